// Options also come from appsettings.json and DISTBACKPROP__* environment variables, with
// precedence command line > environment > appsettings.json > defaults. The number of metrics rows
// shows which --max-steps won.
namespace DistBackprop.Host.Tests;

public sealed class ConfigurationTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Environment_variable_sets_an_option()
    {
        var r = Run(new() { ["DISTBACKPROP__MAXSTEPS"] = "3", ["DISTBACKPROP__BATCH"] = "16" });
        Assert.Equal(3, MetricsRows());
        Assert.Contains("batch 16", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Appsettings_in_the_current_directory_sets_an_option()
    {
        File.WriteAllText(_dir.File("appsettings.json"), """{ "DistBackprop": { "MaxSteps": 4, "Lr": 0.05 } }""");
        var r = Run(new());
        Assert.Equal(4, MetricsRows());
        Assert.Contains("lr 0.05", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Environment_beats_appsettings_and_command_line_beats_both()
    {
        File.WriteAllText(_dir.File("appsettings.json"), """{ "DistBackprop": { "MaxSteps": 4 } }""");
        Run(new() { ["DISTBACKPROP__MAXSTEPS"] = "2" });
        Assert.Equal(2, MetricsRows());
        Run(new() { ["DISTBACKPROP__MAXSTEPS"] = "2" }, "--max-steps", "5");
        Assert.Equal(5, MetricsRows());
    }

    [Fact]
    public void Bad_value_from_the_environment_names_the_variable()
    {
        var r = Cli.Run(_dir.Path, new Dictionary<string, string> { ["DISTBACKPROP__LR"] = "-3" }, default, "train");
        ValidationTests.AssertUsage(r, "--lr (from environment variable DISTBACKPROP__LR)", "-3");
        r = Cli.Run(_dir.Path, new Dictionary<string, string> { ["DISTBACKPROP__BATCH"] = "lots" }, default, "train");
        ValidationTests.AssertUsage(r, "DISTBACKPROP__BATCH", "'lots' is not a whole number");
    }

    [Fact]
    public void Bad_value_from_appsettings_names_the_file()
    {
        File.WriteAllText(_dir.File("appsettings.json"), """{ "DistBackprop": { "Activation": "swish" } }""");
        var r = Cli.Run(_dir.Path, "train");
        ValidationTests.AssertUsage(r, "appsettings.json", "swish");
    }

    [Fact]
    public void Malformed_appsettings_is_a_usage_error()
    {
        File.WriteAllText(_dir.File("appsettings.json"), "{ \"DistBackprop\": ");
        ValidationTests.AssertUsage(Cli.Run(_dir.Path, "train"), "appsettings.json", "cannot read");
    }

    private CliResult Run(Dictionary<string, string> env, params string[] extra)
    {
        var r = Cli.Run(_dir.Path, env, default, ["train", "--metrics", _dir.File("m.csv"), .. extra]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    private int MetricsRows() => File.ReadAllLines(_dir.File("m.csv")).Length - 1;
}
