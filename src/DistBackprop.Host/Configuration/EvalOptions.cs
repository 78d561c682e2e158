// The settings of `eval`. Same sources and name mapping as TrainingOptions (section "DistBackprop",
// DISTBACKPROP__<NAME>, --kebab-name). Leaves out: parsing and validation.
namespace DistBackprop.Host.Configuration;

/// <summary>Options of <c>distbackprop eval</c>; same configuration sources and mapping as <see cref="TrainingOptions"/>.</summary>
public sealed class EvalOptions
{
    /// <summary>--model the safetensors file to evaluate. Env: DISTBACKPROP__MODEL.</summary>
    public string? Model { get; set; }

    /// <summary>--data, as for train. Env: DISTBACKPROP__DATA.</summary>
    public string? Data { get; set; }

    /// <summary>--seed for synthetic data. Env: DISTBACKPROP__SEED.</summary>
    public long Seed { get; set; } = 1;

    /// <summary>--test-split, as for train. Env: DISTBACKPROP__TESTSPLIT.</summary>
    public double TestSplit { get; set; }

    /// <summary>--json: one JSON line on stdout, logs on stderr. Env: DISTBACKPROP__JSON.</summary>
    public bool Json { get; set; }

    /// <summary>--plain. Env: DISTBACKPROP__PLAIN.</summary>
    public bool Plain { get; set; }

    /// <summary>--verbose. Env: DISTBACKPROP__VERBOSE.</summary>
    public bool Verbose { get; set; }
}
