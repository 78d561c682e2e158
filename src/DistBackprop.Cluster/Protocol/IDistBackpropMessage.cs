// Marker interfaces for every message DistBackprop sends between actors. The serialization
// bindings target them: control messages go through Hyperion (restricted to these types),
// tensor messages through TensorSerializer (raw float bytes). Leaves out: the messages themselves.
namespace DistBackprop.Cluster.Protocol;

/// <summary>Every DistBackprop message. Arrays inside messages are handed over: the sender never touches them again.</summary>
public interface IDistBackpropMessage
{
}

/// <summary>Small messages serialized by the restricted Hyperion serializer.</summary>
public interface IControlMessage : IDistBackpropMessage
{
}

/// <summary>Messages that carry weights or gradients, serialized by <see cref="Serialization.TensorSerializer"/>.</summary>
public interface ITensorMessage : IDistBackpropMessage
{
}
