// The tensor channel in the running system: a coordinator and two workers over loopback (the ClusterCoordinatorHost /
// ClusterWorkerHost calls the CLI makes) match the reference bit for bit with either transport; a worker whose
// channel is cut mid-step loses its shards to the other one, the step completes, and the run is still bit-identical;
// and, with a raw socket playing a worker's channel, gradient frames for an old step and second frames for a filled
// shard are dropped and counted exactly like Akka replies. Leaves out: frame encoding (FrameCodecTests).
using System.Net.Sockets;
using Akka.Actor;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Hosting;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests.Channel;

public class ChannelClusterTests(ITestOutputHelper output) : HostedTestKit(output)
{
    private static readonly Dataset Data = TestData.Blobs(256);
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);
    private readonly ITestOutputHelper _output = output;

    [Theory]
    [InlineData(TensorTransportKind.Tcp)]
    [InlineData(TensorTransportKind.Akka)]
    public async Task Two_workers_over_loopback_match_the_reference_with_either_transport(TensorTransportKind transport)
    {
        var config = TestData.Config(shards: 4, steps: 8);
        var port = ClusterChaos.FreePort();
        var channels = 0;
        using var stop = new CancellationTokenSource(Budget * 2);
        var coordinator = ClusterCoordinatorHost.RunAsync(Node(NodeRole.Coordinator, port, transport), Coordinator(config), cancellationToken: stop.Token);
        var workers = new[] { "w1", "w2" }.Select(id => ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, transport, ClusterChaos.Seed(port)),
            Worker(id) with { ChannelConnected = _ => Interlocked.Increment(ref channels) }, cancellationToken: stop.Token)).ToArray();
        try
        {
            var result = await coordinator.WaitAsync(Budget);
            foreach (var s in result.Steps)
            {
                _output.WriteLine($"step {s.Step}: compute {s.ComputeMs:F2} ms, serialize {s.SerializeMs:F2} ms, transport {s.TransportMs:F2} ms, wait {s.WaitMs:F2} ms");
            }

            Assert.Equal(transport == TensorTransportKind.Tcp ? 2 : 0, channels);
            Assert.All(result.Steps, s => Assert.Equal(2, s.Workers));
            AssertReference(config, result.Parameters, $"{transport} transport");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers).WaitAsync(Budget);
        }
    }

    [Fact]
    public async Task A_worker_whose_channel_is_cut_mid_step_loses_its_shards_and_the_run_matches_the_reference()
    {
        var config = TestData.Config(shards: 4, steps: 10);
        var port = ClusterChaos.FreePort();
        var notices = new List<string>();
        var reports = new List<StepReport>();
        Socket? socket = null;
        var cut = 0;
        using var stop = new CancellationTokenSource(Budget * 2);
        var settings = Coordinator(config) with
        {
            Events = e =>
            {
                lock (notices)
                {
                    if (e is TrainingNotice n)
                    {
                        notices.Add(n.Message);
                    }
                    else if (e is StepReport r)
                    {
                        reports.Add(r);
                    }
                }
            },
        };
        var coordinator = ClusterCoordinatorHost.RunAsync(Node(NodeRole.Coordinator, port, TensorTransportKind.Tcp), settings, cancellationToken: stop.Token);
        var w1 = ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, TensorTransportKind.Tcp, ClusterChaos.Seed(port)), Worker("w1"), cancellationToken: stop.Token);
        var w2 = ClusterWorkerHost.RunAsync(Node(NodeRole.Worker, 0, TensorTransportKind.Tcp, ClusterChaos.Seed(port)), Worker("w2") with
        {
            ChannelConnected = s => Volatile.Write(ref socket, s),
            BeforeShard = (step, _) =>
            {
                if (step == 4 && Interlocked.Exchange(ref cut, 1) == 0)
                {
                    // mid-step: w2 holds shards 1 and 3 of step 4; its connection goes away under it (as when a cable is pulled
                    // or the peer resets), while its Akka side stays up
                    var s = Volatile.Read(ref socket)!;
                    s.Shutdown(SocketShutdown.Both);
                    s.Close();
                }
            },
        }, cancellationToken: stop.Token);

        try
        {
            var result = await coordinator.WaitAsync(Budget);
            lock (notices)
            {
                foreach (var n in notices)
                {
                    _output.WriteLine(n);
                }
            }

            var step4 = result.Steps.Single(r => r.Step == 4);
            var byWorker = result.Summary.ShardsByWorker!.ToDictionary(c => c.WorkerId.Replace(TestPki.Id(""), "", StringComparison.Ordinal), c => c.Shards);
            _output.WriteLine($"step 4: {step4.ReassignedShards} shard(s) reassigned; shards delivered: w1 {byWorker.GetValueOrDefault("w1")}, w2 {byWorker.GetValueOrDefault("w2")}");
            Assert.Equal(1, cut);
            Assert.Contains(notices, n => n.StartsWith($"worker {TestPki.Id("w2")}: tensor channel closed", StringComparison.Ordinal));
            Assert.Equal(2, step4.ReassignedShards);
            Assert.Equal(10, result.Summary.Steps);
            Assert.Equal(0, result.Summary.TimedOutShards); // the broken channel, not the 60 s deadline, finished step 4
            AssertReference(config, result.Parameters, "channel cut mid-step");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(w1, w2).WaitAsync(Budget);
        }
    }

    [Fact]
    public void Stale_and_duplicate_gradient_frames_are_dropped_and_counted()
    {
        var config = TestData.Config(shards: 2, steps: 3);
        var events = CreateTestProbe();
        var settings = Coordinator(config) with
        {
            MinWorkers = 1,
            Events = e => events.Tell(e),
            TensorChannel = new TensorChannelOptions("127.0.0.1", 0) { Tls = TestPki.For(NodeRole.Coordinator) },
        };
        var coordinator = Sys.ActorOf(Actors.Coordinator.Props(settings));
        var probe = CreateTestProbe();
        var credentials = TestPki.For(NodeRole.Worker, "raw");
        coordinator.Tell(new RegisterWorker("raw/1", Core.Tensors.Gemm.KernelPath, null, null, 1), probe.Ref);
        var endpoint = probe.ExpectMsg<RegistrationAccepted>().TensorChannel!;
        using var raw = new RawChannel(endpoint, config.Spec.ParameterCount, credentials);
        coordinator.Tell(new WorkerReady("raw/1", Data.Fingerprint), probe.Ref);

        var work1 = probe.ExpectMsg<ComputeShards>(TimeSpan.FromSeconds(5));
        Assert.Null(work1.Weights); // the weights came over the channel
        var w0 = raw.ReadWeights(work1.WeightsVersion);
        raw.Answer(work1, w0, onlyShard: 0);
        raw.Answer(work1, w0, onlyShard: 0); // duplicate of shard 0 while the step is open
        raw.Answer(work1, w0, onlyShard: 1);
        var r1 = events.FishForMessage<StepReport>(_ => true);
        Assert.Equal((1L, 1L), (r1.Step, r1.DuplicateReplies));

        var work2 = probe.ExpectMsg<ComputeShards>(TimeSpan.FromSeconds(5));
        var w1 = raw.ReadWeights(work2.WeightsVersion);
        raw.Answer(work1, w0, onlyShard: 1); // step 1 again: stale
        raw.Answer(work2, w1);
        var r2 = events.FishForMessage<StepReport>(_ => true);
        Assert.Equal((2L, 1L), (r2.Step, r2.StaleReplies));

        var work3 = probe.ExpectMsg<ComputeShards>(TimeSpan.FromSeconds(5));
        raw.Answer(work3, raw.ReadWeights(work3.WeightsVersion));
        var done = events.FishForMessage<TrainingCompleted>(_ => true);
        Assert.Equal((1L, 1L), (done.Summary.StaleReplies, done.Summary.DuplicateReplies));
        AssertReference(config, done.Parameters, "raw channel with stale and duplicate frames");
    }

    private static DistBackpropAkkaOptions Node(NodeRole role, int port, TensorTransportKind transport, params string[] seeds)
    {
        var o = ClusterChaos.Node(role, port, seeds);
        o.TensorTransport = transport;
        o.TensorPort = 0;
        return o;
    }

    private static CoordinatorSettings Coordinator(TrainingConfig config) => new()
    {
        State = new TrainingState(config, Data.Count, Initializer.Create(config.Spec, 5)),
        Dataset = new DatasetDescriptor("blobs", 11, 0, Data.Fingerprint, Data.Count),
        MinWorkers = 2,
    };

    private static WorkerSettings Worker(string id) => new()
    {
        WorkerId = id,
        LoadDataset = d => d.Fingerprint == Data.Fingerprint ? Data : throw new InvalidOperationException("wrong dataset asked for"),
    };

    private void AssertReference(TrainingConfig config, float[] parameters, string what)
    {
        var diff = TestData.FirstDifference(TestData.Reference(config, Data), parameters);
        _output.WriteLine($"{what} vs reference: {diff}");
        Assert.True(diff == "identical", $"{what} vs reference: {diff}");
    }

    /// <summary>A worker's tensor channel played by hand over a TLS socket with a worker certificate, with the frame codec.</summary>
    private sealed class RawChannel : IDisposable
    {
        private readonly Socket _socket = new(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        private readonly System.Net.Security.SslStream _stream;
        private readonly byte[] _scratch = new byte[FrameCodec.HeaderBytes];
        private readonly Mlp<float> _mlp = new(TestData.Spec, 64);
        private readonly int _parameters;

        public RawChannel(TensorChannelEndpoint endpoint, int parameters, DistBackprop.Cluster.Security.NodeCredentials credentials)
        {
            _parameters = parameters;
            _socket.Connect(endpoint.Host, endpoint.Port);
            _stream = new System.Net.Security.SslStream(new NetworkStream(_socket, ownsSocket: true), false,
                credentials.Trust.SslValidator(null, NodeRole.Coordinator));
            _stream.AuthenticateAsClient(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "coordinator",
                ClientCertificates = [credentials.Certificate],
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            });
            FrameCodec.WriteHello(_stream, endpoint.Nonce, parameters);
        }

        public float[] ReadWeights(long version)
        {
            _socket.ReceiveTimeout = 5000;
            Assert.True(FrameCodec.TryReadHeader(_stream, _scratch, _parameters, out var h));
            Assert.Equal((FrameKind.Weights, version), (h.Kind, h.Version));
            var weights = new float[h.Count];
            FrameCodec.ReadPayload(_stream, h, weights);
            return weights;
        }

        public void Answer(ComputeShards work, float[] weights, int? onlyShard = null)
        {
            foreach (var s in work.Shards.Where(s => onlyShard is null || s.Shard == onlyShard))
            {
                var sum = new GradientSum(_parameters);
                ReferenceTrainer.ComputeShard(_mlp, weights, Data, s.Indices, sum);
                var h = new FrameHeader(FrameKind.Gradient, FrameHeader.LastFlag, work.Step, work.WeightsVersion, s.Shard, 0, _parameters, _parameters,
                    sum.LossSum, sum.Samples, sum.Correct, 0);
                FrameCodec.Write(_stream, _scratch, h, sum.Gradient);
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}
