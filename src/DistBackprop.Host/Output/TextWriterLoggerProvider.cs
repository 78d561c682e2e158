// A minimal ILoggerProvider writing "level: category: message" lines to a TextWriter (standard error),
// so library logs (Akka) never mix into standard output. Leaves out: scopes, formatting options.
using Microsoft.Extensions.Logging;

namespace DistBackprop.Host.Output;

public sealed class TextWriterLoggerProvider : ILoggerProvider
{
    private readonly TextWriter _writer;
    private readonly LogLevel _minimum;
    private readonly bool _errors;

    /// <param name="minimum">Lowest level written.</param>
    /// <param name="errors">Write Error/Critical too (off: the caller reports failures itself).</param>
    public TextWriterLoggerProvider(TextWriter writer, LogLevel minimum, bool errors)
    {
        _writer = writer ?? throw new ArgumentNullException(nameof(writer));
        _minimum = minimum;
        _errors = errors;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private bool Enabled(LogLevel level) => level != LogLevel.None && level >= _minimum && (_errors || level < LogLevel.Error);

    private sealed class Logger(TextWriter writer, TextWriterLoggerProvider owner, string category) : ILogger
    {
        public Logger(TextWriterLoggerProvider owner, string category)
            : this(owner._writer, owner, category)
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => owner.Enabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = $"{logLevel.ToString().ToLowerInvariant()}: {category}: {formatter(state, exception)}";
            lock (writer)
            {
                writer.WriteLine(line);
            }
        }
    }
}
