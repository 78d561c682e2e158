// Strict serialization (issue 11 item 8): no JSON fallback — a payload whose "$type" names a foreign type (a
// FileInfo, or a Tripwire that counts its constructions) is refused whether it arrives as a call to the serialization
// layer or over a real mutual-TLS association from a rogue ActorSystem holding a worker certificate, while Akka's own JSON serializer (the old fallback)
// demonstrably materialises it; the Hyperion allow-list is exact (assemblies checked, closed generics listed) and every
// protocol type round-trips through it without one refusal. Leaves out: the tensor serializer (SerializationTests).
using System.Reflection;
using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Serialization;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Serialization;
using Hyperion;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

/// <summary>A type whose construction is the attack's success: counted, never legitimately on the wire.</summary>
public sealed class Tripwire
{
    private static int _built;

    public Tripwire() => Interlocked.Increment(ref _built);

    public static int Built => Volatile.Read(ref _built);

    public string Text { get; set; } = "";
}

/// <summary>What the rogue node tells its serializers to send: the attacker's JSON, under the guard's serializer id.</summary>
public sealed class Evil(string json)
{
    public string Json { get; } = json;
}

/// <summary>The same, under serializer id 1 (Akka's JSON serializer on a node with Akka's defaults).</summary>
public sealed class EvilForJson(string json)
{
    public string Json { get; } = json;
}

/// <summary>The rogue node's serializer: claims an identifier and an Akka manifest, and writes the attacker's JSON.</summary>
public abstract class EvilSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public override string Manifest(object o) => "Akka.Actor.Address, Akka";

    public override byte[] ToBinary(object obj) => Encoding.UTF8.GetBytes(obj is Evil e ? e.Json : ((EvilForJson)obj).Json);

    public override object FromBinary(byte[] bytes, string manifest) => throw new NotSupportedException();
}

public sealed class EvilGuardIdSerializer(ExtendedActorSystem system) : EvilSerializer(system)
{
    public override int Identifier => GuardSerializer.Id;
}

public sealed class EvilJsonIdSerializer(ExtendedActorSystem system) : EvilSerializer(system)
{
    public override int Identifier => 1;
}

/// <summary>Production settings: serialize-messages off, as in every real run.</summary>
public class StrictSerializationTests(ITestOutputHelper output) : HostedTestKit(output, new DistBackpropAkkaOptions { SerializeMessages = false })
{
    private static readonly string TripwireJson =
        $$"""{"$type":"{{typeof(Tripwire).FullName}}, {{typeof(Tripwire).Assembly.GetName().Name}}","Text":"pwned"}""";

    private static readonly string FileInfoJson =
        $$"""{"$type":"{{typeof(FileInfo).AssemblyQualifiedName}}","fileName":"/etc/passwd"}""";

    private readonly ITestOutputHelper _output = output;

    [Fact]
    public void A_json_payload_naming_a_foreign_type_is_refused_where_the_old_fallback_built_it()
    {
        var ext = (ExtendedActorSystem)Sys;

        // the old path (Akka's JSON serializer behind a manifest check): it reads "$type" from the payload and builds it
        var json = new NewtonSoftJsonSerializer(ext);
        var before = Tripwire.Built;
        Assert.IsType<Tripwire>(json.FromBinary(Encoding.UTF8.GetBytes(TripwireJson), typeof(Address)));
        Assert.IsType<FileInfo>(json.FromBinary(Encoding.UTF8.GetBytes(FileInfoJson), typeof(Address)));
        Assert.Equal(before + 1, Tripwire.Built);

        // the guard, reached the way the remoting layer reaches it (serializer id + manifest from the envelope)
        var refusals = GuardSerializer.Refusals;
        foreach (var payload in new[] { TripwireJson, FileInfoJson })
        {
            var e = Assert.Throws<SerializationException>(() => Sys.Serialization.Deserialize(Encoding.UTF8.GetBytes(payload), GuardSerializer.Id, "Akka.Actor.Address, Akka"));
            _output.WriteLine(e.Message);
            Assert.Contains("refuses to deserialize Akka.Actor.Address", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before + 1, Tripwire.Built); // never built by the guard
        Assert.True(GuardSerializer.Refusals >= refusals + 2);

        // and it writes nothing either, not even Akka's own types
        Assert.Throws<SerializationException>(() => Sys.Serialization.FindSerializerForType(typeof(Tripwire)).ToBinary(new Tripwire()));
        var guard = Assert.IsType<GuardSerializer>(Sys.Serialization.FindSerializerForType(typeof(Address)));
        Assert.Throws<SerializationException>(() => guard.ToBinary(new Address("akka.tcp", "x", "h", 1)));
    }

    [Fact]
    public async Task A_rogue_node_with_a_valid_certificate_cannot_make_the_node_build_a_foreign_type()
    {
        // victim: the production composition with remoting (a coordinator node that forms a cluster of its own) in the
        // secure default: a rogue without a certificate of the cluster's CA gets no byte in at all (the TLS tests); this
        // is the second line of defence, what an enrolled node that turned rogue (a worker certificate) could still send
        var port = ClusterChaos.FreePort();
        using var victim = LocalTraining.BuildHost(null, Akka.Event.LogLevel.WarningLevel, b => b
            .WithDistBackprop(new DistBackpropAkkaOptions { Role = NodeRole.Coordinator, Port = port, SerializeMessages = false, Tls = TestPki.For(NodeRole.Coordinator) })
            .WithActors((system, _) => system.ActorOf(Props.Create(() => new Recorder()), Actors.Coordinator.ActorName))); // a path untrusted mode lets through
        await victim.StartAsync();
        try
        {
            var victimSystem = victim.Services.GetRequiredService<ActorSystem>();
            var before = Tripwire.Built;
            var refusals = GuardSerializer.Refusals;
            var (received, text) = await Attack($"akka.ssl.tcp://{DistBackpropAkkaOptions.SystemName}@127.0.0.1:{port}/user/{Actors.Coordinator.ActorName}", victimSystem,
                TestPki.For(NodeRole.Worker, "rogue"));
            Assert.Equal(before, Tripwire.Built);
            Assert.Equal(["after"], received); // only the harmless message after the attack got through
            Assert.True(GuardSerializer.Refusals > refusals, "the guard never saw the attack");
            _output.WriteLine($"victim: received {string.Join(",", received)}; {text}");
        }
        finally
        {
            await victim.StopAsync();
        }

        // control: the same attack against a node with Akka's default (JSON) fallback builds the Tripwire, so the
        // assertions above can fail
        using var plain = ActorSystem.Create("plain", ConfigurationFactory.ParseString($$"""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = {{ClusterChaos.FreePort()}} }
            akka.loglevel = ERROR
            """));
        plain.ActorOf(Props.Create(() => new Recorder()), "recorder");
        var plainBefore = Tripwire.Built;
        var plainAddress = ((ExtendedActorSystem)plain).Provider.DefaultAddress;
        var (plainReceived, _) = await Attack($"{plainAddress}/user/recorder", plain);
        Assert.True(Tripwire.Built > plainBefore, "the control node did not build the Tripwire: the attack is not an attack");
        Assert.Contains(nameof(Tripwire), string.Join(",", plainReceived), StringComparison.Ordinal);
        await plain.Terminate();
    }

    [Fact]
    public void The_hyperion_allow_list_is_exact()
    {
        var f = HyperionTypeFilter.Instance;
        Assert.True(f.IsAllowed(typeof(RegisterWorker).AssemblyQualifiedName!));
        Assert.True(f.IsAllowed("DistBackprop.Cluster.Protocol.RegisterWorker, DistBackprop.Cluster"));
        Assert.True(f.IsAllowed(typeof(WorkerStatus[]).AssemblyQualifiedName!));
        Assert.True(f.IsAllowed(typeof(int[]).AssemblyQualifiedName!));
        Assert.True(f.IsAllowed("System.String"));
        Assert.True(f.IsAllowed("System.Int64, mscorlib"));

        Assert.False(f.IsAllowed("DistBackprop.Cluster.Protocol.RegisterWorker, SomeOtherAssembly")); // our namespace, not our assembly
        Assert.False(f.IsAllowed("DistBackprop.Cluster.Protocol.NoSuchMessage, DistBackprop.Cluster"));
        Assert.False(f.IsAllowed(typeof(FileInfo).AssemblyQualifiedName!));
        Assert.False(f.IsAllowed("System.Diagnostics.Process, System.Diagnostics.Process"));
        Assert.False(f.IsAllowed(typeof(List<RegisterWorker>).AssemblyQualifiedName!)); // not listed in ClosedGenerics
        Assert.False(f.IsAllowed(typeof(Dictionary<string, string>).AssemblyQualifiedName!));
        Assert.False(f.IsAllowed(typeof(int[,]).AssemblyQualifiedName!));
        Assert.False(f.IsAllowed(typeof(Tripwire).AssemblyQualifiedName!));
        Assert.False(f.IsAllowed("System.String, EvilAssembly"));
        Assert.False(f.IsAllowed("not a [type name"));
        Assert.False(f.IsAllowed(""));
    }

    [Fact]
    public void Every_protocol_type_round_trips_through_hyperion_without_a_refusal()
    {
        // every control message, with every field set, through the production Hyperion settings with a filter that
        // records what Hyperion asks: a message that needs a type the allow-list lacks (a closed generic, say) fails here
        var asked = new List<(string Name, bool Allowed)>();
        var recording = new RecordingFilter(HyperionTypeFilter.Instance, asked);
        var hyperion = new HyperionSerializer((ExtendedActorSystem)Sys, HyperionSerializerSettings.Default.WithTypeFilter(recording));
        var types = typeof(IControlMessage).Assembly.GetExportedTypes()
            .Where(t => typeof(IControlMessage).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .ToList();
        Assert.True(types.Count >= 20, $"only {types.Count} control message types found");
        foreach (var type in types)
        {
            var message = Sample.Of(type);
            var bytes = hyperion.ToBinary(message);
            var back = hyperion.FromBinary(bytes, type);
            Assert.IsType(type, back);
            Assert.Equal(bytes, hyperion.ToBinary(back)); // every field survived
        }

        var refused = asked.Where(a => !a.Allowed).Select(a => a.Name).Distinct().ToList();
        Assert.True(refused.Count == 0, "Hyperion needs types the allow-list refuses (add closed generics to HyperionTypeFilter.ClosedGenerics): " + string.Join("; ", refused));
        _output.WriteLine($"{types.Count} protocol types, {asked.Select(a => a.Name).Distinct().Count()} distinct names asked, none refused");
    }

    // sends the attack (the attacker's JSON under the guard's serializer id and under Akka's JSON id) and then a harmless
    // string; returns what the target's
    // recorder received by the time the harmless one arrived
    // with <paramref name="tls"/>, the rogue speaks mutual TLS with that (valid) certificate and checks nobody's
    private static async Task<(List<string> Received, string Note)> Attack(string target, ActorSystem victimSystem, DistBackprop.Cluster.Security.NodeCredentials? tls = null)
    {
        var rogueConfig = ConfigurationFactory.ParseString($$"""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0, enable-ssl = {{(tls is null ? "off" : "on")}} }
            akka.loglevel = ERROR
            akka.actor.serializers { evil-guard = "{{typeof(EvilGuardIdSerializer).AssemblyQualifiedName}}", evil-json = "{{typeof(EvilJsonIdSerializer).AssemblyQualifiedName}}" }
            akka.actor.serialization-bindings { "{{typeof(Evil).AssemblyQualifiedName}}" = evil-guard, "{{typeof(EvilForJson).AssemblyQualifiedName}}" = evil-json }
            """);
        var setup = BootstrapSetup.Create().WithConfig(rogueConfig);
        using var rogue = tls is null
            ? ActorSystem.Create("rogue", setup)
            : ActorSystem.Create("rogue", setup.And(new Akka.Remote.Transport.DotNetty.DotNettySslSetup(tls.Certificate, suppressValidation: true, requireMutualAuthentication: true)));
        var selection = rogue.ActorSelection(target);
        foreach (var json in new[] { TripwireJson, FileInfoJson })
        {
            selection.Tell(new Evil(json));
            selection.Tell(new EvilForJson(json));
        }

        selection.Tell("after");
        var recorder = await victimSystem.ActorSelection(target[target.IndexOf("/user/", StringComparison.Ordinal)..]).ResolveOne(TimeSpan.FromSeconds(10));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        List<string> received;
        while (!(received = await recorder.Ask<List<string>>(Recorder.Read.Instance, TimeSpan.FromSeconds(5))).Contains("after"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the harmless message never arrived: no association");
            await Task.Delay(100);
        }

        await rogue.Terminate();
        return (received, $"{received.Count} message(s)");
    }

    private sealed class Recorder : ReceiveActor
    {
        private readonly List<string> _seen = [];

        public Recorder()
        {
            Receive<Read>(_ => Sender.Tell(_seen.ToList()));
            ReceiveAny(m => _seen.Add(m as string ?? m.GetType().Name));
        }

        public sealed class Read
        {
            public static readonly Read Instance = new();
        }
    }

    private sealed class RecordingFilter(ITypeFilter inner, List<(string, bool)> asked) : ITypeFilter
    {
        public bool IsAllowed(string typeName)
        {
            var ok = inner.IsAllowed(typeName);
            lock (asked)
            {
                asked.Add((typeName, ok));
            }

            return ok;
        }
    }

    /// <summary>An instance of a protocol record with every constructor argument set (nested records filled in turn).</summary>
    private static class Sample
    {
        public static object Of(Type type)
        {
            if (type.GetField("Instance", BindingFlags.Public | BindingFlags.Static) is { } single && single.FieldType == type)
            {
                return single.GetValue(null)!;
            }

            var ctor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
            return ctor.Invoke([.. ctor.GetParameters().Select(p => Value(p.ParameterType))]);
        }

        private static object Value(Type t)
        {
            t = Nullable.GetUnderlyingType(t) ?? t;
            return t switch
            {
                _ when t == typeof(string) => "text",
                _ when t == typeof(int) => 7,
                _ when t == typeof(long) => 8L,
                _ when t == typeof(double) => 0.5,
                _ when t == typeof(float) => 1.5f,
                _ when t == typeof(bool) => true,
                _ when t == typeof(byte) => (byte)9,
                _ when t.IsEnum => Enum.GetValues(t).GetValue(0)!,
                _ when t.IsArray => Array(t.GetElementType()!),
                _ when t.Namespace == HyperionTypeFilter.ProtocolNamespace => Of(t),
                _ => throw new InvalidOperationException($"no sample value for {t} (extend Sample.Value)"),
            };
        }

        private static Array Array(Type element)
        {
            var a = System.Array.CreateInstance(element, 2);
            a.SetValue(Value(element), 0);
            a.SetValue(Value(element), 1);
            return a;
        }
    }
}

/// <summary>The test setting serialize-messages = on: the guard passes only Akka's listed local types, and checks their payload.</summary>
public class VerificationModeGuardTests(ITestOutputHelper output) : HostedTestKit(output)
{
    private readonly ITestOutputHelper _output = output;

    [Fact]
    public void Listed_local_types_round_trip_and_any_foreign_type_in_their_payload_is_refused()
    {
        var address = new Address("akka.tcp", "distbackprop", "10.1.2.3", 4053);
        var guard = Assert.IsType<GuardSerializer>(Sys.Serialization.FindSerializerFor(address));
        var bytes = guard.ToBinary(address);
        Assert.Equal(address, guard.FromBinary(bytes, typeof(Address)));

        var before = Tripwire.Built;
        var tripwire = $$$"""{"$type":"Akka.Actor.Address, Akka","Protocol":{"$type":"{{{typeof(Tripwire).FullName}}}, {{{typeof(Tripwire).Assembly.GetName().Name}}}"}}""";
        var escaped = """{"\u0024type":"System.IO.FileInfo, System.IO.FileSystem","OriginalPath":"/etc/passwd"}""";
        var lenient = """{'$type':'System.IO.FileInfo, System.IO.FileSystem','OriginalPath':'/etc/passwd'}"""; // Newtonsoft would read it
        foreach (var payload in new[] { tripwire, escaped, lenient })
        {
            var e = Assert.Throws<SerializationException>(() => guard.FromBinary(Encoding.UTF8.GetBytes(payload), typeof(Address)));
            _output.WriteLine(e.Message);
        }

        Assert.Equal(before, Tripwire.Built);
        Assert.Throws<SerializationException>(() => guard.FromBinary(Encoding.UTF8.GetBytes("{}"), typeof(Tripwire))); // not a listed type
        Assert.Throws<SerializationException>(() => guard.ToBinary(new Tripwire()));
    }
}
