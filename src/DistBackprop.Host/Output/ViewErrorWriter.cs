// Standard error while the live view draws: a warning written to the terminal between two redraws would
// break the frame, so complete lines go to the view's log area instead (and are printed after it stops,
// like every line that came while drawing); before and after drawing they go to standard error as usual.
// Leaves out: which lines are written (the engines' loggers decide).
using System.Text;

namespace DistBackprop.Host.Output;

public sealed class ViewErrorWriter(LiveView view, TextWriter error) : TextWriter
{
    private readonly StringBuilder _line = new();

    public override Encoding Encoding => error.Encoding;

    public override void Write(char value)
    {
        lock (_line)
        {
            if (value == '\n')
            {
                var text = _line.ToString().TrimEnd('\r');
                _line.Clear();
                if (!view.TryLog(text))
                {
                    error.WriteLine(text);
                }

                return;
            }

            _line.Append(value);
        }
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? string.Empty)
        {
            Write(c);
        }
    }

    public override void WriteLine(string? value)
    {
        Write(value);
        Write('\n');
    }

    public override void Flush() => error.Flush();
}
