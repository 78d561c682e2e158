// Level (a) specs of the round protocol: TestProbes stand in for workers, computing their shards with
// the same Core call a worker makes, so every scenario must still end bit-identical to the reference
// loop: silent worker past its deadline, stale and duplicate replies, zero workers then one, a worker
// terminated mid-step, a late joiner that must get the current weights, work declined for missing weights.
using Akka.Actor;
using Akka.TestKit;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public class CoordinatorProtocolTests(ITestOutputHelper output) : HostedTestKit(output)
{
    private static readonly Dataset Data = TestData.Blobs(256);
    private readonly ITestOutputHelper _output = output;

    [Fact]
    public void Silent_worker_past_its_deadline_loses_its_shard_and_the_step_completes()
    {
        var (coordinator, events, config) = Start(shards: 2, steps: 3, deadline: TimeSpan.FromSeconds(1), minWorkers: 2); // long enough that a answers its own shard in time on a loaded machine (only the current assignee fills a slot)
        var a = new FakeWorker(this, "a", coordinator);
        var b = new FakeWorker(this, "b", coordinator);
        a.Join();
        b.Join();
        for (var step = 1; step <= 3; step++)
        {
            var workA = a.Receive();
            var workB = b.Receive(); // b stays silent
            Assert.Equal([0], workA.Shards.Select(s => s.Shard));
            Assert.Equal([1], workB.Shards.Select(s => s.Shard));
            a.Answer(workA);
            var taken = a.Receive(TimeSpan.FromSeconds(3));
            Assert.Equal([1], taken.Shards.Select(s => s.Shard));
            Assert.Null(taken.Weights); // a already has this version
            a.Answer(taken);
            var report = events.FishForMessage<StepReport>(_ => true);
            Assert.Equal(step, report.Step);
            Assert.Equal(1, report.ReassignedShards);
        }

        var done = events.FishForMessage<TrainingCompleted>(_ => true);
        Assert.Equal(3, done.Summary.TimedOutShards);
        AssertReference(config, done);
    }

    [Fact]
    public void Stale_and_duplicate_replies_are_dropped_and_counted()
    {
        var (coordinator, events, config) = Start(shards: 2, steps: 3);
        var a = new FakeWorker(this, "a", coordinator);
        a.Join();

        var work1 = a.Receive();
        a.Answer(work1, onlyShard: 0);
        a.Answer(work1, onlyShard: 0); // duplicate of shard 0 while the step is open
        a.Answer(work1, onlyShard: 1);
        var r1 = events.FishForMessage<StepReport>(_ => true);
        Assert.Equal(1, r1.Step);
        Assert.Equal(1, r1.DuplicateReplies);

        var work2 = a.Receive();
        a.Answer(work1, onlyShard: 1); // step 1 again: stale
        a.Answer(work2);
        var r2 = events.FishForMessage<StepReport>(_ => true);
        Assert.Equal(2, r2.Step);
        Assert.Equal(1, r2.StaleReplies);

        a.Answer(a.Receive());
        var done = events.FishForMessage<TrainingCompleted>(_ => true);
        Assert.Equal(1, done.Summary.StaleReplies);
        Assert.Equal(1, done.Summary.DuplicateReplies);
        AssertReference(config, done);
    }

    [Fact]
    public void With_zero_workers_training_waits_then_proceeds_and_a_late_joiner_gets_the_current_weights()
    {
        var (coordinator, events, config) = Start(shards: 3, steps: 4);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        var a = new FakeWorker(this, "a", coordinator);
        a.Join();
        var w1 = a.Receive();
        Assert.Equal(1, w1.Step);
        Assert.NotNull(w1.Weights);
        a.Answer(w1);
        a.Answer(a.Receive()); // step 2

        // a dies between steps 2 and 3 while holding step 3's work: training pauses
        var w3 = a.Receive();
        Assert.Equal(3, w3.Step);
        Sys.Stop(a.Probe.Ref);
        events.FishForMessage<TrainingNotice>(n => n.Message.Contains("paused", StringComparison.Ordinal), TimeSpan.FromSeconds(5));

        var c = new FakeWorker(this, "c", coordinator);
        c.Join();
        var resumed = c.Receive();
        Assert.Equal(3, resumed.Step);
        Assert.Equal(2, resumed.WeightsVersion);
        Assert.NotNull(resumed.Weights); // the late joiner gets the current weights with its first work
        Assert.Equal(3, resumed.Shards.Length);
        c.Answer(resumed);
        c.Answer(c.Receive());
        AssertReference(config, events.FishForMessage<TrainingCompleted>(_ => true));
    }

    [Fact]
    public void A_worker_terminated_mid_step_has_its_shards_reassigned()
    {
        var (coordinator, events, config) = Start(shards: 4, steps: 3, minWorkers: 2);
        var a = new FakeWorker(this, "a", coordinator);
        var b = new FakeWorker(this, "b", coordinator);
        a.Join();
        b.Join();
        var workA = a.Receive();
        var workB = b.Receive();
        Assert.Equal([0, 2], workA.Shards.Select(s => s.Shard));
        Assert.Equal([1, 3], workB.Shards.Select(s => s.Shard));
        a.Answer(workA);
        b.Answer(workB, onlyShard: 1); // b delivers one of its two shards, then dies
        Sys.Stop(b.Probe.Ref);
        var taken = a.Receive(TimeSpan.FromSeconds(5));
        Assert.Equal(1, taken.Step);
        Assert.Equal([3], taken.Shards.Select(s => s.Shard));
        a.Answer(taken);
        Assert.Equal(1, events.FishForMessage<StepReport>(_ => true).ReassignedShards);
        a.Answer(a.Receive());
        a.Answer(a.Receive());
        var done = events.FishForMessage<TrainingCompleted>(_ => true);
        Assert.Equal(1, done.Summary.ReassignedShards);
        AssertReference(config, done);
    }

    [Fact]
    public void A_leaving_worker_hands_back_its_shards_at_once_and_gets_no_more_work()
    {
        var (coordinator, events, config) = Start(shards: 4, steps: 3, minWorkers: 2);
        var a = new FakeWorker(this, "a", coordinator);
        var b = new FakeWorker(this, "b", coordinator);
        a.Join();
        b.Join();
        var workA = a.Receive();
        var workB = b.Receive();
        a.Answer(workA);
        coordinator.Tell(new WorkerLeaving("b", workB.Step, [1, 3]), b.Probe.Ref); // Ctrl+C on b's node
        Assert.Equal(1, b.Probe.ExpectMsg<LeaveAcknowledged>().Step);
        var taken = a.Receive(TimeSpan.FromSeconds(3)); // well before the 30 s deadline
        Assert.Equal([1, 3], taken.Shards.Select(s => s.Shard));
        a.Answer(taken);
        Assert.Equal(2, events.FishForMessage<StepReport>(_ => true).ReassignedShards);
        a.Answer(a.Receive());
        a.Answer(a.Receive());
        var done = events.FishForMessage<TrainingCompleted>(_ => true);
        b.Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // no work, not even TrainingFinished: b is no longer a worker
        AssertReference(config, done);
    }

    [Fact]
    public void Work_declined_for_missing_weights_is_dealt_again_at_once_with_the_weights()
    {
        // deadline 30 s: the step must not wait for it
        var (coordinator, events, config) = Start(shards: 2, steps: 2);
        var a = new FakeWorker(this, "a", coordinator);
        a.Join();
        a.Answer(a.Receive()); // step 1
        var work2 = a.Receive(); // carries weights version 1: a holds it on the coordinator's books
        coordinator.Tell(new WorkDeclined("a", work2.Step, work2.WeightsVersion, [0, 1]), a.Probe.Ref); // as if its channel had been replaced
        var again = a.Receive(TimeSpan.FromSeconds(3));
        Assert.Equal(2, again.Step);
        Assert.Equal([0, 1], again.Shards.Select(s => s.Shard));
        Assert.NotNull(again.Weights); // sent again, since a said it lacks them (a reassignment within a step sends none)
        coordinator.Tell(new WorkDeclined("a", 1, 0, [0]), a.Probe.Ref); // a decline for a completed step changes nothing
        a.Answer(again);
        Assert.Equal(2, events.FishForMessage<StepReport>(r => r.Step == 2).ReassignedShards);
        var done = events.FishForMessage<TrainingCompleted>(_ => true);
        Assert.Equal(0, done.Summary.TimedOutShards);
        AssertReference(config, done);
    }

    [Fact]
    public void A_worker_with_another_architecture_or_dataset_is_refused()
    {
        var (coordinator, events, _) = Start(shards: 2, steps: 1);
        var probe = CreateTestProbe();
        coordinator.Tell(new RegisterWorker("x", Core.Tensors.Gemm.KernelPath, new ModelDescriptor([20, 8, 4], "relu", "softmax-ce"), null, 1), probe.Ref);
        var refused = probe.ExpectMsg<RegistrationRefused>();
        _output.WriteLine(refused.Reason);
        Assert.Contains("architecture 20,8,4 relu softmax-ce differs from the coordinator's 20,16,4 relu softmax-ce", refused.Reason);

        coordinator.Tell(new RegisterWorker("y", Core.Tensors.Gemm.KernelPath, null, "0123", 1), probe.Ref);
        Assert.Contains("dataset fingerprint 0123 differs", probe.ExpectMsg<RegistrationRefused>().Reason);

        coordinator.Tell(new RegisterWorker("z", Core.Tensors.Gemm.KernelPath, null, null, 1), probe.Ref);
        probe.ExpectMsg<RegistrationAccepted>();
        coordinator.Tell(new WorkerReady("z", "not-the-fingerprint"), probe.Ref);
        Assert.Contains("fingerprint not-the-fingerprint", probe.ExpectMsg<RegistrationRefused>().Reason);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // and no work
    }

    private (IActorRef Coordinator, TestProbe Events, TrainingConfig Config) Start(int shards, long steps, TimeSpan? deadline = null, int minWorkers = 1)
    {
        var config = TestData.Config(shards, steps);
        var events = CreateTestProbe();
        var settings = new CoordinatorSettings
        {
            State = new TrainingState(config, Data.Count, Initializer.Create(config.Spec, 5)),
            Dataset = new DatasetDescriptor("blobs", 11, 0, Data.Fingerprint, Data.Count),
            ShardDeadline = deadline ?? TimeSpan.FromSeconds(30),
            MinWorkers = minWorkers,
            Events = e => events.Tell(e),
        };
        return (Sys.ActorOf(Coordinator.Props(settings)), events, config);
    }

    private static void AssertReference(TrainingConfig config, TrainingCompleted done)
    {
        var diff = TestData.FirstDifference(TestData.Reference(config, Data), done.Parameters);
        Assert.True(diff == "identical", $"vs reference: {diff}");
    }

    /// <summary>A TestProbe playing a worker: registers, and answers work with the Core call a Worker makes.</summary>
    private sealed class FakeWorker(TestKitBase kit, string id, IActorRef coordinator)
    {
        private readonly Mlp<float> _mlp = new(TestData.Spec, 64);
        private float[]? _weights;

        public TestProbe Probe { get; } = kit.CreateTestProbe();

        public void Join()
        {
            coordinator.Tell(new RegisterWorker(id, Core.Tensors.Gemm.KernelPath, null, null, 1), Probe.Ref);
            Probe.ExpectMsg<RegistrationAccepted>();
            coordinator.Tell(new WorkerReady(id, Data.Fingerprint), Probe.Ref);
        }

        public ComputeShards Receive(TimeSpan? timeout = null)
        {
            var work = Probe.ExpectMsg<ComputeShards>(timeout ?? TimeSpan.FromSeconds(5));
            _weights = work.Weights ?? _weights;
            return work;
        }

        public void Answer(ComputeShards work, int? onlyShard = null)
        {
            foreach (var s in work.Shards.Where(s => onlyShard is null || s.Shard == onlyShard))
            {
                var sum = new GradientSum(TestData.Spec.ParameterCount);
                ReferenceTrainer.ComputeShard(_mlp, _weights, Data, s.Indices, sum);
                coordinator.Tell(new ShardComputed(work.Step, s.Shard, sum.Gradient, sum.LossSum, sum.Samples, sum.Correct, 0, 0), Probe.Ref);
            }
        }
    }
}
