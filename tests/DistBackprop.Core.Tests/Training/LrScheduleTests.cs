// The learning-rate schedules (Core/Training/LrSchedule.cs, closed form) against torch's own recursive stepping of
// LinearLR → StepLR / CosineAnnealingLR (MathChecks.TorchSchedulers), every step of a run; the constant schedule returns --lr
// itself (old runs keep their bits); TrainingState hands each step's rate to the optimizer and reports it; bad
// combinations are refused with a message naming the options.
using DistBackprop.Core.Model;
using DistBackprop.Core.Optim;
using DistBackprop.Core.Tests.MathChecks;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Core.Tests.Training;

public class LrScheduleTests(ITestOutputHelper output)
{
    public static TheoryData<string, int, double, double, int, double, long> Schedules() => new()
    {
        { "step", 7, 0.5, 0, 0, 1.0 / 3, 60 },
        { "step", 10, 0.1, 0, 5, 1.0 / 3, 60 },
        { "step", 3, 0.9, 0, 12, 0.01, 100 },
        { "cosine", 0, 0.1, 0, 0, 1.0 / 3, 60 },
        { "cosine", 0, 0.1, 0.001, 10, 1.0 / 3, 60 },
        { "cosine", 0, 0.1, 0.02, 25, 0.5, 1000 },
        { "constant", 0, 0.1, 0, 8, 0.25, 40 },
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Every_step_matches_torch_schedulers_stepped_per_optimizer_step(string kind, int stepSize, double gamma, double etaMin, int warmup, double factor, long total)
    {
        const float lr = 0.1f;
        Assert.True(LrSchedule.TryParseKind(kind, out var k));
        var ours = new LrSchedule(k, stepSize, gamma, etaMin, warmup, factor);
        Assert.Null(ours.Validate(total));
        var torch = new TorchSchedulers(lr, kind, total, stepSize, gamma, etaMin, warmup, factor);
        double worst = 0;
        for (long t = 0; t < total; t++)
        {
            var expected = torch.Lr;
            var actual = ours.Rate(lr, t, total);
            var error = Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-12);
            worst = Math.Max(worst, error);
            Assert.True(error <= 1e-6, $"step {t}: ours {actual:R}, torch {expected:R} (relative error {error:E2})"); // float32 rounding of the rate
            Assert.Equal((float)ClosedForm(lr, t, kind, stepSize, gamma, etaMin, warmup, factor, total), actual);
            torch.Step();
        }

        output.WriteLine($"{kind} N={stepSize} G={gamma} min={etaMin} W={warmup} f={factor:G3} T={total}: max relative error vs torch {worst:E2}");
    }

    [Fact]
    public void The_constant_schedule_without_warmup_is_the_learning_rate_itself()
    {
        foreach (var lr in new[] { 0.1f, 1e-3f, 3.3f, 0f })
        {
            Assert.Equal(lr, LrSchedule.Constant.Rate(lr, 12345, 20000));
        }
    }

    [Fact]
    public void Warmup_starts_at_f_times_lr_and_reaches_lr_at_step_w()
    {
        var s = new LrSchedule(LrScheduleKind.Constant, WarmupSteps: 4, WarmupStartFactor: 0.25);
        Assert.Equal([0.25f, 0.4375f, 0.625f, 0.8125f, 1f, 1f], Enumerable.Range(0, 6).Select(t => s.Rate(1f, t, 10)));
    }

    [Fact]
    public void Training_state_uses_each_steps_rate_and_reports_it()
    {
        var spec = new ModelSpec([3, 4, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var schedule = new LrSchedule(LrScheduleKind.Step, StepSize: 2, Gamma: 0.5, WarmupSteps: 2, WarmupStartFactor: 0.5);
        var config = new TrainingConfig(spec, new OptimizerSettings(OptimizerKind.Sgd, 0.2f), BatchSize: 2, Epochs: null, MaxSteps: 6, Shuffle: false, Schedule: schedule);
        var state = new TrainingState(config, 4, Initializer.Create(spec, 1));
        var shard = new GradientSum(spec.ParameterCount) { Samples = 2 };
        shard.Gradient.AsSpan().Fill(1f);
        var rates = new List<double>();
        var weight = new List<float>();
        while (!state.IsFinished)
        {
            var before = state.Parameters[0];
            Assert.Equal(state.NextLearningRate, (float)state.CompleteStep([shard]).LearningRate);
            rates.Add(state.Optimizer.CurrentLearningRate);
            weight.Add(before - state.Parameters[0]); // sgd: Δw = lr_t · ḡ, ḡ = 0.5
        }

        Assert.Equal([0.1f, 0.15f, 0.2f, 0.2f, 0.1f, 0.1f], rates.Select(r => (float)r));
        Assert.Equal([0.1f * 0.5f, 0.15f * 0.5f, 0.2f * 0.5f, 0.2f * 0.5f, 0.1f * 0.5f, 0.1f * 0.5f], weight, new FloatNear(1e-6f));
    }

    [Theory]
    [InlineData(LrScheduleKind.Cosine, 0, 0, long.MaxValue, "--lr-schedule cosine needs a bounded run")]
    [InlineData(LrScheduleKind.Constant, 0, 50, 50L, "--warmup-steps 50 must be less than the run's 50 steps")]
    [InlineData(LrScheduleKind.Cosine, 0, 80, 60L, "--warmup-steps 80 must be less than the run's 60 steps")]
    [InlineData(LrScheduleKind.Step, 0, 0, 60L, "--lr-schedule step needs --lr-step-size")]
    public void Combinations_that_make_no_sense_are_refused_naming_the_options(LrScheduleKind kind, int stepSize, int warmup, long total, string message)
    {
        var problem = new LrSchedule(kind, stepSize, WarmupSteps: warmup).Validate(total);
        Assert.NotNull(problem);
        Assert.StartsWith(message, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_config_checks_the_schedule_against_the_runs_length()
    {
        var spec = new ModelSpec([3, 4, 2], Activation.Relu, LossKind.SoftmaxCrossEntropy);
        var config = new TrainingConfig(spec, new OptimizerSettings(), BatchSize: 10, Epochs: 2, Schedule: new LrSchedule(LrScheduleKind.Cosine, WarmupSteps: 20));
        Assert.Null(config.Validate(101)); // 2 × 11 = 22 steps
        Assert.StartsWith("--warmup-steps 20 must be less than the run's 20 steps", config.Validate(100), StringComparison.Ordinal);
    }

    private static double ClosedForm(double lr, long t, string kind, int n, double g, double min, int w, double f, long total) =>
        t < w ? lr * (f + ((1 - f) * t / w))
        : kind == "step" ? lr * Math.Pow(g, (t - w) / n)
        : kind == "cosine" ? min + ((lr - min) * (1 + Math.Cos(Math.PI * (t - w) / (total - w))) / 2)
        : lr;

    private sealed class FloatNear(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
