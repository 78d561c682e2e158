// Entry point of `distbackprop`: composes the console, Ctrl+C/SIGTERM handling and the command tree.
// Everything else lives in Commands/ (one file per command), Configuration/, Training/ and Output/.
using System.Runtime.InteropServices;
using DistBackprop.Host.Commands;
using DistBackprop.Host.Configuration;

using var stop = new CancellationTokenSource();

// Ctrl+C or SIGTERM: stop after the current step, write --out and a checkpoint, exit 0. A second Ctrl+C kills.
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = !stop.IsCancellationRequested;
    stop.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    stop.Cancel();
});

// Our lines go to the real standard output; anything written to Console.Out behind our back (Akka's
// start-up logger, e.g. its serializer-override warning) goes to standard error, so stdout stays clean.
var stdout = Console.Out;
var isTerminal = !Console.IsOutputRedirected;
Console.SetOut(Console.Error);
return DistBackpropCli.Run(args, new CliContext(stdout, Console.Error, CliEnvironment.FromProcess(), stop.Token) { IsTerminal = isTerminal });
