// `distbackprop explain`: prints Core's walkthrough numbers (plain when not a terminal), --steps shows
// the falling loss, --markdown writes the same document, bad values exit 2 naming the option.
using DistBackprop.Core.Explain;

namespace DistBackprop.Host.Tests.Explain;

public sealed class ExplainCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Prints_both_parts_with_the_walkthrough_numbers()
    {
        var r = Cli.Run(_dir.Path, "explain");
        Assert.True(r.ExitCode == 0, r.ToString());
        var a = Walkthrough.Run(ExplainExample.SigmoidOutput);
        var b = Walkthrough.Run(ExplainExample.SoftmaxOutput);
        Assert.Contains("Part A", r.Out);
        Assert.Contains("Part B", r.Out);
        Assert.Contains($"J before = {ExplainDocument.N(a.LossBefore)}", r.Out);
        Assert.Contains($"J after  = {ExplainDocument.N(a.LossAfter)}", r.Out);
        Assert.Contains($"J after  = {ExplainDocument.N(b.LossAfter)}", r.Out);
        Assert.Contains("δ2 = ∂J/∂a · ∂a/∂z".Replace("δ2 = ", string.Empty, StringComparison.Ordinal), r.Out);

        // not a terminal: plain text, no ANSI escapes or box drawing
        Assert.DoesNotContain("\u001b[", r.Out);
        Assert.DoesNotContain("╭", r.Out);
    }

    [Fact]
    public void Steps_and_lr_change_the_table()
    {
        var r = Cli.Run(_dir.Path, "explain", "--steps", "12", "--lr", "0.25", "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        var a = Walkthrough.Run(ExplainExample.SigmoidOutput, 0.25, 12);
        Assert.True(a.LossFallsEveryStep);
        foreach (var s in a.Steps)
        {
            Assert.Contains(ExplainDocument.N(s.Loss), r.Out);
        }

        Assert.Contains("The loss falls at every step.", r.Out);
    }

    [Fact]
    public void Markdown_file_holds_the_same_document()
    {
        var r = Cli.Run(_dir.Path, "explain", "--steps", "5", "--markdown", "explain.md", "--plain");
        Assert.True(r.ExitCode == 0, r.ToString());
        var md = File.ReadAllText(_dir.File("explain.md"));
        Assert.StartsWith("# How are the new weights calculated?", md);
        Assert.Contains("## Part A", md);
        Assert.Contains("```text", md);
        Assert.Contains("∂J/∂W1 = δ1·xᵀ", md);
        Assert.Contains("| step | loss J |", md);
        var a = Walkthrough.Run(ExplainExample.SigmoidOutput, Walkthrough.DefaultLearningRate, 5);
        Assert.Contains(ExplainDocument.N(a.Steps[5].Loss), md);
        Assert.Contains(ExplainDocument.N(a.Gradients[0].Numeric), md);
        Assert.Contains("wrote explain.md", r.Out);
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp-*"));
    }

    [Theory]
    [InlineData("--steps", "0", "--steps")]
    [InlineData("--steps", "100000", "--steps")]
    [InlineData("--lr", "-0.1", "--lr")]
    [InlineData("--lr", "NaN", "--lr")]
    [InlineData("--steps", "many", "many")]
    public void Bad_values_exit_2_naming_the_option(string option, string value, string expected)
    {
        var r = Cli.Run(_dir.Path, "explain", option, value);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void Unwritable_markdown_exits_2_naming_the_file()
    {
        var r = Cli.Run(_dir.Path, "explain", "--markdown", "no/such/dir/x.md");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("--markdown", r.Err);
        Assert.Contains("x.md", r.Err);
    }
}
