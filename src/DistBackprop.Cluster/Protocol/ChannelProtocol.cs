// The one control message the tensor channel adds to the registration (docs/tensor-channel.md): where a worker
// connects its tensor channel, and the token that ties the connection to its registration. Leaves out: the
// frames themselves (Channel/TensorFrame.cs), which never travel through Akka.
namespace DistBackprop.Cluster.Protocol;

/// <summary>
/// In <see cref="RegistrationAccepted"/> when the coordinator moves weights and gradients over TCP: connect to
/// <paramref name="Host"/>:<paramref name="Port"/> (the coordinator's public host) and open with a Hello frame carrying
/// <paramref name="Token"/>. Null there: tensors travel inside Akka messages (the fallback transport).
/// </summary>
public sealed record TensorChannelEndpoint(string Host, int Port, long Token) : IControlMessage;
