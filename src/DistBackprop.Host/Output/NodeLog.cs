// Where a cluster node's Akka log lines go (standard error, one line each): warnings always, errors
// unless the command reports that failure itself (a refusal, a failed run), Akka's info lines and stack
// traces only with --verbose; an Akka warning that repeats (a worker retrying its seed nodes) once per 30 s. Lines of DistBackprop's own actors (/user/coordinator, /user/worker) keep
// their text; Akka's internal ones are prefixed "akka:". A line the command has already shown on standard
// output (a coordinator notice: worker joined, left, refused) is not repeated.
// Leaves out: the training progress lines (PlainProgress, through TrainRun).
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace DistBackprop.Host.Output;

public sealed class NodeLog : ILoggerProvider
{
    private readonly TextWriter _err;
    private readonly bool _verbose;
    private readonly Func<string, bool>? _alreadyShown;
    private readonly Dictionary<string, long> _lastShown = new(StringComparer.Ordinal);

    /// <summary>The same kind of Akka warning is shown at most once per this interval (all with --verbose).</summary>
    public static readonly TimeSpan Repeat = TimeSpan.FromSeconds(30);

    /// <param name="error">Where the lines go.</param>
    /// <param name="verbose">Also info lines, stack traces and errors the command reports itself.</param>
    /// <param name="alreadyShown">True for a message the command has printed already.</param>
    public NodeLog(TextWriter error, bool verbose, Func<string, bool>? alreadyShown = null)
    {
        _err = error ?? throw new ArgumentNullException(nameof(error));
        _verbose = verbose;
        _alreadyShown = alreadyShown;
    }

    /// <summary>A logger factory writing through a new provider.</summary>
    public static ILoggerFactory Factory(TextWriter error, bool verbose, Func<string, bool>? alreadyShown = null) =>
        LoggerFactory.Create(b => b.SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning).AddProvider(new NodeLog(error, verbose, alreadyShown)));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Write(LogLevel level, string category, IEnumerable<KeyValuePair<string, object?>>? fields, string formatted, Exception? exception)
    {
        var (source, message) = Parse(fields, formatted);
        var ours = source.Contains("/user/coordinator", StringComparison.Ordinal) || source.Contains("/user/worker", StringComparison.Ordinal)
            || category.StartsWith("DistBackprop", StringComparison.Ordinal);
        var show = level switch
        {
            LogLevel.Warning when ours => !(_alreadyShown?.Invoke(message) == true) || _verbose,
            LogLevel.Warning => _verbose || Now(message),
            // a remote node going away is an Akka "error" on this side; the worker/coordinator lines say what happened
            LogLevel.Error or LogLevel.Critical when !ours => _verbose || (!message.StartsWith("Disassociated", StringComparison.Ordinal) && Now(message)),
            LogLevel.Error or LogLevel.Critical => _verbose,
            LogLevel.None => false,
            _ => _verbose,
        };
        if (!show)
        {
            return;
        }

        if (!_verbose)
        {
            var nl = message.IndexOfAny(['\r', '\n']);
            message = nl >= 0 ? message[..nl] : message;
        }
        else if (exception is not null)
        {
            message += Environment.NewLine + exception;
        }

        var line = $"{Level(level)}: {(ours ? string.Empty : "akka: ")}{message}";
        lock (_err)
        {
            _err.WriteLine(line);
            _err.Flush();
        }
    }

    /// <summary>Akka repeats some warnings every few seconds (a worker retrying its seed nodes): show each kind once per <see cref="Repeat"/>.</summary>
    private bool Now(string message)
    {
        var key = new string(message.Where(c => !char.IsAsciiDigit(c)).Take(48).ToArray());
        var now = Environment.TickCount64;
        lock (_lastShown)
        {
            if (_lastShown.TryGetValue(key, out var last) && now - last < (long)Repeat.TotalMilliseconds)
            {
                return false;
            }

            _lastShown[key] = now;
            return true;
        }
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Warning => "warning",
        LogLevel.Error or LogLevel.Critical => "error",
        _ => "info",
    };

    /// <summary>Akka.Hosting hands over structured fields: LogSource, {OriginalFormat} and the arguments "0", "1", ….</summary>
    private static (string Source, string Message) Parse(IEnumerable<KeyValuePair<string, object?>>? fields, string formatted)
    {
        if (fields is null)
        {
            return (string.Empty, formatted);
        }

        string source = string.Empty;
        string? format = null;
        var args = new SortedDictionary<int, object?>();
        foreach (var (k, v) in fields)
        {
            if (k == "LogSource")
            {
                source = v?.ToString() ?? string.Empty;
            }
            else if (k == "{OriginalFormat}")
            {
                format = v?.ToString();
            }
            else if (int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out var i))
            {
                args[i] = v;
            }
        }

        if (format is null || source.Length == 0)
        {
            return (source, formatted);
        }

        try
        {
            return (source, args.Count == 0 ? format : string.Format(CultureInfo.InvariantCulture, format, [.. args.Values]));
        }
        catch (FormatException)
        {
            return (source, formatted);
        }
    }

    private sealed class Logger(NodeLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning || owner._verbose;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Write(logLevel, category, state as IEnumerable<KeyValuePair<string, object?>>, formatter(state, exception), exception);
            }
        }
    }
}
