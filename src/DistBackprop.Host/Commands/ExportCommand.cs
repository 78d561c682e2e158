// `distbackprop export --model m.safetensors --onnx m.onnx`: the model file as ONNX (Core/Interchange/OnnxExport):
// input "input" [N, in], output "output" [N, K] holding probabilities, the model's metadata carried into
// metadata_props. The architecture comes from the tensor shapes, activation and loss from the metadata (relu /
// softmax-ce when absent, as for eval). Options come from the command line only.
// Leaves out: other formats; `train --onnx` writes the same file at the end of a run (TrainRun).
using System.CommandLine;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Interchange;
using DistBackprop.Core.Model;

namespace DistBackprop.Host.Commands;

public static class ExportCommand
{
    /// <summary>Metadata keys of the model file that the ONNX file recomputes (and must not repeat with another spelling).</summary>
    private static readonly HashSet<string> Recomputed = ["format", "layers", "activation", "loss", "checksum"];

    public static Command Create(CliContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var model = TrainingCommandLine.Text("--model", "the model file (safetensors) to export");
        var onnx = TrainingCommandLine.Text("--onnx", "the ONNX file to write, e.g. model.onnx");
        var command = new Command("export", "Export a saved model to ONNX. Example: distbackprop export --model model.safetensors --onnx model.onnx")
        {
            model, onnx,
        };
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            context.Verbose = parseResult.GetValue<bool>("--verbose");
            var modelPath = parseResult.GetValue(model);
            var onnxPath = parseResult.GetValue(onnx);
            var errors = new List<string>();
            if (string.IsNullOrWhiteSpace(modelPath))
            {
                errors.Add("--model is required (the safetensors file to export)");
            }
            else if (!File.Exists(PlotCommand.Resolve(context, modelPath)))
            {
                errors.Add($"--model: cannot read '{modelPath}': no such file");
            }

            if (string.IsNullOrWhiteSpace(onnxPath))
            {
                errors.Add("--onnx is required (the file to write, e.g. --onnx model.onnx)");
            }
            else if (!onnxPath.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"--onnx: '{onnxPath}' must end in .onnx");
            }

            if (errors.Count > 0)
            {
                throw new UsageException(errors);
            }

            var loaded = ModelFile.Load(PlotCommand.Resolve(context, modelPath!));
            var spec = new ModelSpec(loaded.Sizes, loaded.Activation ?? Activation.Relu, loaded.Loss ?? LossKind.SoftmaxCrossEntropy);
            var metadata = loaded.Metadata.Where(p => !Recomputed.Contains(p.Key)).OrderBy(p => p.Key, StringComparer.Ordinal);
            OnnxExport.Save(PlotCommand.Resolve(context, onnxPath!), spec, loaded.Parameters, metadata);
            context.Out.WriteLine($"wrote {onnxPath}: {spec}, opset {OnnxExport.Opset}, input \"{OnnxExport.InputName}\" [N, {spec.Inputs}], output \"{OnnxExport.OutputName}\" [N, {spec.Outputs}] ({OnnxExport.OutputMeaning(spec.Loss)})");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
