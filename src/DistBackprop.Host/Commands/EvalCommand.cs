// `distbackprop eval --model m.safetensors [--data …] [--json]`: loss, accuracy and confusion matrix
// of a saved model on the dataset's test set (its training set when it has none). The architecture
// comes from the model's tensor shapes; activation and loss from its metadata (relu / softmax-ce
// when absent). With --json, standard output holds exactly one JSON line and logs go to stderr.
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DistBackprop.Core.Checkpoints;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Host.Configuration;
using DistBackprop.Host.Training;

namespace DistBackprop.Host.Commands;

public static class EvalCommand
{
    public static Command Create(CliContext context)
    {
        var d = new EvalOptions();
        var command = new Command("eval", "Evaluate a saved model. Example: distbackprop eval --model model.safetensors --data digits --json");
        command.Options.Add(TrainingCommandLine.Text("--model", "the model file (safetensors) to evaluate"));
        command.Options.Add(TrainingCommandLine.Text("--data", "dataset, as for train [default: digits]"));
        command.Options.Add(TrainingCommandLine.Value("--seed", "seed of synthetic data", d.Seed));
        command.Options.Add(TrainingCommandLine.Value("--test-split", "as for train: carve a test set off a dataset that has none", d.TestSplit));
        command.Options.Add(TrainingCommandLine.Flag("--json", "print exactly one JSON line on stdout (logs go to stderr)"));
        TrainingCommandLine.AddCommon(command);
        command.SetAction(parseResult => CommandRunner.Run(context, () =>
        {
            var bound = OptionsBinder.Bind<EvalOptions>(context.Environment, TrainingCommandLine.CommandLineValues(parseResult));
            context.Verbose = bound.Value.Verbose;
            return Execute(context, bound);
        }));
        return command;
    }

    private static int Execute(CliContext context, Bound<EvalOptions> bound)
    {
        var o = bound.Value;
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.Model))
        {
            errors.Add("--model is required (the safetensors file to evaluate)");
        }
        else if (!File.Exists(o.Model))
        {
            errors.Add($"{bound.Name(nameof(o.Model))}: cannot read '{o.Model}': no such file");
        }

        if (!(o.TestSplit >= 0 && o.TestSplit < 1))
        {
            errors.Add($"{bound.Name(nameof(o.TestSplit))} must be in [0, 1) (got {o.TestSplit.ToString("R", CultureInfo.InvariantCulture)})");
        }

        if (errors.Count > 0)
        {
            throw new UsageException(errors);
        }

        var log = o.Json ? context.Err : context.Out;
        var model = ModelFile.Load(o.Model!);
        var spec = new ModelSpec(model.Sizes, model.Activation ?? Activation.Relu, model.Loss ?? LossKind.SoftmaxCrossEntropy);
        var split = DatasetLoader.Load(o.Data, new DataOptions(o.Seed, o.TestSplit, context.Environment.DataDirectory));
        var (set, which) = split.Test is { } test ? (test, "test set") : (split.Train, "training set (the data has no test set)");
        if (spec.Inputs != set.FeatureCount)
        {
            throw new UsageException($"--model {o.Model}: input size {spec.Inputs} does not match the data's {set.FeatureCount} features ({set.Name})");
        }

        if (!ModelSpec.OutputsFit(spec.Outputs, set.Classes))
        {
            throw new UsageException($"--model {o.Model}: output size {spec.Outputs} does not match the data's {set.Classes} classes ({set.Name})");
        }

        log.WriteLine($"model {o.Model}: {spec}; evaluating on the {which} of {set.Name}, {set.Count} samples");
        var r = new Evaluator(spec).Evaluate(model.Parameters, set);
        if (o.Json)
        {
            context.Out.WriteLine(ToJson(r, o.Model!, set.Name, which.StartsWith("test", StringComparison.Ordinal) ? "test" : "train"));
        }
        else
        {
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss {r.Loss:F4}  accuracy {r.Accuracy:F4}  ({r.Samples} samples)"));
            context.Out.Write(ConfusionText(r.Confusion));
        }

        return ExitCodes.Ok;
    }

    /// <summary>One line: {"loss":…,"accuracy":…,"samples":…,"model":…,"data":…,"split":…,"confusion":[[…]…]}.</summary>
    public static string ToJson(EvaluationResult r, string model, string data, string split)
    {
        ArgumentNullException.ThrowIfNull(r);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteNumber("loss", double.IsFinite(r.Loss) ? r.Loss : double.MaxValue);
            w.WriteNumber("accuracy", r.Accuracy);
            w.WriteNumber("samples", r.Samples);
            w.WriteString("model", model);
            w.WriteString("data", data);
            w.WriteString("split", split);
            w.WriteStartArray("confusion");
            for (var t = 0; t < r.Classes; t++)
            {
                w.WriteStartArray();
                for (var p = 0; p < r.Classes; p++)
                {
                    w.WriteNumberValue(r.Confusion[t, p]);
                }

                w.WriteEndArray();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Rows = true label, columns = predicted label.</summary>
    public static string ConfusionText(long[,] confusion)
    {
        ArgumentNullException.ThrowIfNull(confusion);
        var k = confusion.GetLength(0);
        var width = 5;
        foreach (var v in confusion)
        {
            width = Math.Max(width, v.ToString(CultureInfo.InvariantCulture).Length + 1);
        }

        var sb = new StringBuilder();
        sb.AppendLine("confusion matrix (rows: true label, columns: predicted)");
        sb.Append("true\\pred".PadLeft(10));
        for (var p = 0; p < k; p++)
        {
            sb.Append(p.ToString(CultureInfo.InvariantCulture).PadLeft(width));
        }

        sb.AppendLine();
        for (var t = 0; t < k; t++)
        {
            sb.Append(t.ToString(CultureInfo.InvariantCulture).PadLeft(10));
            for (var p = 0; p < k; p++)
            {
                sb.Append(confusion[t, p].ToString(CultureInfo.InvariantCulture).PadLeft(width));
            }

            sb.AppendLine();
        }

        return sb.ToString();
    }
}
