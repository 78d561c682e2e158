// The model as an ONNX file, for ONNX Runtime, ML.NET's ApplyOnnxModel and any other ONNX consumer.
// Graph: input "input" float [N, in] (N dynamic) → per layer Gemm(A, W, b; transB = 1), i.e. Z = A·Wᵀ + b with W
// stored [out, in] exactly as in the safetensors file, then the hidden activation (Relu, LeakyRelu α 0.01, Sigmoid,
// Tanh) → output "output" float [N, K] holding the probabilities the loss sees: Softmax (softmax-ce), Sigmoid
// (sigmoid-ce) or Identity (mse). Opset 17, IR version 8; the architecture and the caller's training metadata go
// into metadata_props. The wire format is Google.Protobuf with OnnxSharp's generated ONNX classes.
// Leaves out: reading ONNX back (tests use ONNX Runtime) and any training graph.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Model;
using Google.Protobuf;
using Onnx;

namespace DistBackprop.Core.Interchange;

public static class OnnxExport
{
    /// <summary>The graph's input name: float [N, in].</summary>
    public const string InputName = "input";

    /// <summary>The graph's output name: float [N, K], probabilities (identity outputs for mse).</summary>
    public const string OutputName = "output";

    /// <summary>The default-domain opset the graph uses (Gemm 13, Softmax 13, Relu 14, LeakyRelu 16, Identity 16).</summary>
    public const long Opset = 17;

    /// <summary>ONNX IR version 8, the one that goes with opset 17.</summary>
    public const long IrVersion = 8;

    /// <summary>The batch dimension's symbolic name.</summary>
    public const string BatchDimension = "N";

    /// <summary>
    /// Builds the ONNX model of <paramref name="spec"/> with <paramref name="parameters"/> (ParameterLayout order).
    /// metadata_props: format, layers, activation, loss, output (what the output holds), then <paramref name="metadata"/>.
    /// </summary>
    public static ModelProto Build(ModelSpec spec, ReadOnlySpan<float> parameters, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (parameters.Length != spec.ParameterCount)
        {
            throw new ArgumentException($"{parameters.Length} parameters, the model {spec} has {spec.ParameterCount}", nameof(parameters));
        }

        var layout = spec.Layout;
        var graph = new GraphProto { Name = "distbackprop_mlp", DocString = $"MLP {spec}: Gemm(transB=1) per layer, probabilities out" };
        graph.Input.Add(FloatMatrix(InputName, spec.Inputs));
        graph.Output.Add(FloatMatrix(OutputName, spec.Outputs));
        var x = InputName;
        for (var l = 0; l < layout.LayerCount; l++)
        {
            var w = ParameterLayout.WeightName(l);
            var b = ParameterLayout.BiasName(l);
            graph.Initializer.Add(FloatTensor(w, [layout.OutputsOf(l), layout.InputsOf(l)], layout.Weight(parameters, l)));
            graph.Initializer.Add(FloatTensor(b, [layout.OutputsOf(l)], layout.Bias(parameters, l)));

            // Z = A·Wᵀ + b     a: (N, In)  w: (Out, In)  b: (Out)  z: (N, Out)
            var z = $"layers.{l}.z";
            var gemm = Node("Gemm", $"layers.{l}.gemm", [x, w, b], z);
            gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            graph.Node.Add(gemm);
            var last = l == layout.LayerCount - 1;
            var a = last ? OutputName : $"layers.{l}.a";
            graph.Node.Add(last ? OutputNode(spec.Loss, z, a) : HiddenNode(spec.Hidden, $"layers.{l}.act", z, a));
            x = a;
        }

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "distbackprop",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = $"DistBackprop MLP {spec}",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = Opset });
        var props = ModelFile.MergeMetadata(ModelFile.ModelMetadata(spec), metadata);
        props.Add(new("output", OutputMeaning(spec.Loss)));
        foreach (var (key, value) in props)
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }

        return model;
    }

    /// <summary>Writes <see cref="Build"/>'s model to <paramref name="path"/> atomically.</summary>
    /// <exception cref="CheckpointException">the file could not be written.</exception>
    public static void Save(string path, ModelSpec spec, ReadOnlySpan<float> parameters, IEnumerable<KeyValuePair<string, string>>? metadata = null)
    {
        var model = Build(spec, parameters, metadata);
        try
        {
            AtomicFile.Write(path, s => model.WriteTo(s));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, $"could not be written: {e.Message}", e);
        }
    }

    /// <summary>What the "output" tensor holds, as written in metadata_props["output"].</summary>
    public static string OutputMeaning(LossKind loss) => loss switch
    {
        LossKind.SoftmaxCrossEntropy => "softmax probabilities",
        LossKind.SigmoidCrossEntropy => "sigmoid probabilities",
        _ => "identity (regression outputs)",
    };

    private static NodeProto HiddenNode(Activation g, string name, string z, string a)
    {
        switch (g)
        {
            case Activation.Relu:
                return Node("Relu", name, [z], a);
            case Activation.LeakyRelu:
                var leaky = Node("LeakyRelu", name, [z], a);
                leaky.Attribute.Add(new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = Names.LeakySlope });
                return leaky;
            case Activation.Sigmoid:
                return Node("Sigmoid", name, [z], a);
            case Activation.Tanh:
                return Node("Tanh", name, [z], a);
            default:
                throw new ArgumentOutOfRangeException(nameof(g), g, "no ONNX operator for this activation");
        }
    }

    private static NodeProto OutputNode(LossKind loss, string z, string a)
    {
        switch (loss)
        {
            case LossKind.SoftmaxCrossEntropy:
                var softmax = Node("Softmax", "output.softmax", [z], a);
                softmax.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
                return softmax;
            case LossKind.SigmoidCrossEntropy:
                return Node("Sigmoid", "output.sigmoid", [z], a);
            default:
                return Node("Identity", "output.identity", [z], a);
        }
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output)
    {
        var n = new NodeProto { OpType = op, Name = name, Domain = string.Empty };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        return n;
    }

    // float [N, width], N symbolic
    private static ValueInfoProto FloatMatrix(string name, int width) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)TensorProto.Types.DataType.Float,
                Shape = new TensorShapeProto
                {
                    Dim =
                    {
                        new TensorShapeProto.Types.Dimension { DimParam = BatchDimension },
                        new TensorShapeProto.Types.Dimension { DimValue = width },
                    },
                },
            },
        },
    };

    // raw_data is little-endian by the ONNX spec
    private static TensorProto FloatTensor(string name, long[] dims, ReadOnlySpan<float> values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        var bytes = new byte[values.Length * sizeof(float)];
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(bytes);
        }
        else
        {
            for (var i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
            }
        }

        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }
}
