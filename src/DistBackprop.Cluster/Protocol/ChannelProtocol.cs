// The one control message the tensor channel adds to the registration (docs/tensor-channel.md, docs/security.md): where a
// worker connects its tensor channel, and the nonce that ties the connection to its registration. Leaves out: the
// frames themselves (Channel/TensorFrame.cs), which never travel through Akka.
namespace DistBackprop.Cluster.Protocol;

/// <summary>
/// In <see cref="RegistrationAccepted"/> when the coordinator moves weights and gradients over TCP: connect to
/// <paramref name="Host"/>:<paramref name="Port"/> (the coordinator's service port) and open with a Hello frame carrying
/// <paramref name="Nonce"/> (32 random bytes, single use). In the secure default the connection is TLS with this worker's
/// client certificate, whose identity must own the registering worker id. Null there: tensors travel inside Akka messages.
/// </summary>
public sealed record TensorChannelEndpoint(string Host, int Port, byte[] Nonce) : IControlMessage;
