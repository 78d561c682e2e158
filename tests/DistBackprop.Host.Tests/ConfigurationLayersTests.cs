// The one configuration root (ConfigurationLayers): four layers in the documented order, every value's source
// found by asking the providers from the top, the same root for options and cluster timings, and a broken settings
// file named. Leaves out: each command's options (ConfigurationTests, ValidationTests run them through the CLI).
using System.Collections;
using DistBackprop.Host.Configuration;

namespace DistBackprop.Host.Tests;

public sealed class ConfigurationLayersTests : IDisposable
{
    private readonly TempFolder _exe = new();
    private readonly TempFolder _cwd = new();

    public void Dispose()
    {
        _exe.Dispose();
        _cwd.Dispose();
    }

    [Fact]
    public void Command_line_beats_environment_beats_current_folder_beats_the_executables_folder()
    {
        File.WriteAllText(_exe.File("appsettings.json"), """{ "DistBackprop": { "Batch": 1, "Lr": 0.1, "Seed": 7, "Epochs": 3, "Cluster": { "HeartbeatInterval": 2 } } }""");
        File.WriteAllText(_cwd.File("appsettings.json"), """{ "DistBackprop": { "Batch": 2, "Lr": 0.2, "Seed": 8 } }""");
        var env = new CliEnvironment(new Hashtable { ["DistBackprop__Batch"] = "3", ["DISTBACKPROP__LR"] = "0.3", ["OTHER__BATCH"] = "9" }, _cwd.Path, _exe.Path);
        var layers = ConfigurationLayers.Build(env, new Dictionary<string, string?> { ["batch"] = "4" });

        Assert.Equal(("4", "--batch"), layers.Find("DistBackprop:Batch"));
        Assert.Equal(("0.3", "environment variable DISTBACKPROP__LR"), layers.Find("DistBackprop:Lr"));
        Assert.Equal(("8", $"{_cwd.File("appsettings.json")} DistBackprop:Seed"), layers.Find("DistBackprop:Seed"));
        Assert.Equal(("3", $"{_exe.File("appsettings.json")} DistBackprop:Epochs"), layers.Find("DistBackprop:Epochs"));
        Assert.Equal(("2", $"{_exe.File("appsettings.json")} DistBackprop:Cluster:HeartbeatInterval"), layers.Find("DistBackprop:Cluster:HeartbeatInterval"));
        Assert.Null(layers.Find("DistBackprop:Momentum"));
        Assert.Equal("4", layers.Root["DistBackprop:Batch"]); // the root itself agrees

        var bound = OptionsBinder.Bind<TrainingOptions>(layers);
        Assert.Equal(4, bound.Value.Batch);
        Assert.Equal(0.3, bound.Value.Lr);
        Assert.Equal(8, bound.Value.Seed);
        Assert.Equal("--lr (from environment variable DISTBACKPROP__LR)", bound.Name(nameof(TrainingOptions.Lr)));
        Assert.Equal("--batch", bound.Name(nameof(TrainingOptions.Batch)));
    }

    [Fact]
    public void Cluster_timings_come_from_the_same_root_and_a_bad_one_names_its_variable()
    {
        var env = new CliEnvironment(new Hashtable { ["DISTBACKPROP__CLUSTER__SHARDDEADLINE"] = "soon", ["DistBackprop__Cluster__HeartbeatInterval"] = "0.5" }, _cwd.Path, null);
        var e = Assert.Throws<UsageException>(() => ClusterSettings.Build(ConfigurationLayers.Build(env), DistBackprop.Cluster.Hosting.NodeRole.Worker,
            "127.0.0.1", 0, null, "64MiB", "--max-frame-size", ["akka.tcp://distbackprop@127.0.0.1:4053"], verbose: false));
        Assert.Equal("environment variable DISTBACKPROP__CLUSTER__SHARDDEADLINE: 'soon' is not a duration (expected seconds like 5 or 0.5, or 00:00:05)", Assert.Single(e.Messages));

        var ok = new CliEnvironment(new Hashtable { ["DistBackprop__Cluster__HeartbeatInterval"] = "0.5" }, _cwd.Path, null);
        var options = ClusterSettings.Build(ConfigurationLayers.Build(ok), DistBackprop.Cluster.Hosting.NodeRole.Worker,
            "127.0.0.1", 0, null, "64MiB", "--max-frame-size", ["akka.tcp://distbackprop@127.0.0.1:4053"], verbose: false);
        Assert.Equal(TimeSpan.FromSeconds(0.5), options.HeartbeatInterval);
    }

    [Fact]
    public void A_broken_settings_file_is_named()
    {
        File.WriteAllText(_cwd.File("appsettings.json"), "{ \"DistBackprop\": { ");
        var e = Assert.Throws<UsageException>(() => ConfigurationLayers.Build(new CliEnvironment(new Hashtable(), _cwd.Path, null)));
        Assert.StartsWith($"{_cwd.File("appsettings.json")}: cannot read the settings", Assert.Single(e.Messages), StringComparison.Ordinal);
    }
}
