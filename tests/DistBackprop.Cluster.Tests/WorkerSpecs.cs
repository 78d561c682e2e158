// Level (a) specs of the worker actor: a TestProbe stands in for the coordinator (serialize-messages on, so every
// record round-trips through the serializers). The worker must register until answered, say ready once it has its
// data, compute each shard to the reference loop's bits, drop queued work of a step the coordinator has moved past,
// hand back work for weights it lacks, obey only its own coordinator, take relayed weights only from its role's parent
// (also when they come before the role), and stop when its in-process coordinator does.
using Akka.Actor;
using Akka.TestKit;
using DistBackprop.Cluster.Actors;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;
using Xunit.Abstractions;

namespace DistBackprop.Cluster.Tests;

public sealed class WorkerSpecs(ITestOutputHelper output) : HostedTestKit(output)
{
    private static readonly Dataset Data = TestData.Blobs(128);
    private static readonly ModelDescriptor Model = ModelDescriptor.From(TestData.Spec);

    [Fact]
    public void Registers_until_accepted_then_says_ready_and_computes_each_shard_to_the_reference_bits()
    {
        var (coordinator, worker, _) = Start();
        coordinator.ExpectMsg<RegisterWorker>(r => Assert.Equal("w1", r.WorkerId));
        coordinator.ExpectMsg<RegisterWorker>(TimeSpan.FromSeconds(3)); // no answer yet: it asks again
        worker.Tell(Accepted(), coordinator.Ref);
        Assert.Equal(Data.Fingerprint, coordinator.ExpectMsg<WorkerReady>().DatasetFingerprint);

        var weights = Initializer.Create(TestData.Spec, 5);
        worker.Tell(new ComputeShards(1, 0, [new ShardWork(0, [1, 2, 3, 4]), new ShardWork(1, [5, 6, 7])], weights), coordinator.Ref);
        var first = coordinator.ExpectMsg<ShardComputed>();
        var second = coordinator.ExpectMsg<ShardComputed>();
        Assert.Equal((1L, 0, 4), (first.Step, first.Shard, first.Samples));
        Assert.Equal((1L, 1, 3), (second.Step, second.Shard, second.Samples));
        Assert.Equal("identical", TestData.FirstDifference(Reference(weights, [1, 2, 3, 4]), first.Gradient));
        Assert.Equal("identical", TestData.FirstDifference(Reference(weights, [5, 6, 7]), second.Gradient));

        // the next step names the version it holds: no weights needed
        worker.Tell(new ComputeShards(2, 0, [new ShardWork(0, [8, 9])], null), coordinator.Ref);
        Assert.Equal("identical", TestData.FirstDifference(Reference(weights, [8, 9]), coordinator.ExpectMsg<ShardComputed>().Gradient));
    }

    [Fact]
    public void Work_for_weights_it_lacks_is_handed_back_at_once()
    {
        var (coordinator, worker, _) = Start();
        Join(coordinator, worker);
        worker.Tell(new ComputeShards(3, 2, [new ShardWork(0, [1]), new ShardWork(2, [2])], null), coordinator.Ref);
        var declined = coordinator.ExpectMsg<WorkDeclined>();
        Assert.Equal((3L, 2L), (declined.Step, declined.WeightsVersion));
        Assert.Equal([0, 2], declined.Shards);
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void Work_from_anyone_but_its_coordinator_is_ignored()
    {
        var (coordinator, worker, _) = Start();
        Join(coordinator, worker);
        var stranger = CreateTestProbe();
        worker.Tell(new ComputeShards(1, 0, [new ShardWork(0, [1])], Initializer.Create(TestData.Spec, 5)), stranger.Ref);
        stranger.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Weights_relayed_before_its_role_are_kept_for_it_and_the_partial_sum_goes_to_the_parent()
    {
        // Across nodes the parent's relay and the coordinator's role come from two senders, in no fixed order (the bed
        // saw the relay first: the piece stalled to its deadline while the relay was dropped).
        var (coordinator, worker, _) = Start();
        Join(coordinator, worker);
        var parent = CreateTestProbe();
        var weights = Initializer.Create(TestData.Spec, 5);
        worker.Tell(new RelayedWeights(1, 0, weights), parent.Ref);
        worker.Tell(new AggregateRole(1, 0, 2, 1, 2, parent.Ref.Path.ToString(), []), coordinator.Ref);
        worker.Tell(new ComputeShards(1, 0, [new ShardWork(1, [5, 6, 7])], null), coordinator.Ref);
        var partial = parent.ExpectMsg<PartialComputed>();
        Assert.Equal((1L, 1, 2, 3), (partial.Step, partial.NodeStart, partial.NodeEnd, partial.Samples));
        Assert.Equal("identical", TestData.FirstDifference(Reference(weights, [5, 6, 7]), partial.Gradient));
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // a child answers its parent, not the coordinator
    }

    [Fact]
    public void Weights_relayed_early_by_anyone_but_the_roles_parent_are_dropped()
    {
        var (coordinator, worker, _) = Start();
        Join(coordinator, worker);
        var (parent, stranger) = (CreateTestProbe(), CreateTestProbe());
        worker.Tell(new RelayedWeights(1, 0, Initializer.Create(TestData.Spec, 6)), stranger.Ref);
        worker.Tell(new AggregateRole(1, 0, 2, 1, 2, parent.Ref.Path.ToString(), []), coordinator.Ref);
        worker.Tell(new ComputeShards(1, 0, [new ShardWork(1, [5, 6, 7])], null), coordinator.Ref);
        parent.ExpectNoMsg(TimeSpan.FromMilliseconds(300)); // still waiting for its parent's copy
        var weights = Initializer.Create(TestData.Spec, 5);
        worker.Tell(new RelayedWeights(1, 0, weights), parent.Ref);
        Assert.Equal("identical", TestData.FirstDifference(Reference(weights, [5, 6, 7]), parent.ExpectMsg<PartialComputed>().Gradient));
        stranger.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task A_refusal_ends_it_and_a_stopped_coordinator_stops_it()
    {
        var (coordinator, worker, refused) = Start();
        coordinator.ExpectMsg<RegisterWorker>();
        worker.Tell(new RegistrationRefused("worker w1 refused: testing"), coordinator.Ref);
        Assert.Equal("worker w1 refused: testing", await refused.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        coordinator.ExpectNoMsg(TimeSpan.FromSeconds(2.5)); // no more registrations

        var (coordinator2, worker2, _) = Start("w2");
        Join(coordinator2, worker2);
        Watch(worker2);
        Sys.Stop(coordinator2.Ref);
        ExpectTerminated(worker2);
    }

    private (TestProbe Coordinator, IActorRef Worker, TaskCompletionSource<string> Refused) Start(string id = "w1")
    {
        var coordinator = CreateTestProbe();
        var refused = new TaskCompletionSource<string>();
        var worker = Sys.ActorOf(Worker.Props(new WorkerSettings
        {
            WorkerId = id,
            Dataset = Data,
            Coordinator = coordinator.Ref,
            RegisterRetry = TimeSpan.FromSeconds(1),
            OnRefused = r => refused.TrySetResult(r),
        }));
        return (coordinator, worker, refused);
    }

    private static void Join(TestProbe coordinator, IActorRef worker)
    {
        coordinator.ExpectMsg<RegisterWorker>();
        worker.Tell(Accepted(), coordinator.Ref);
        coordinator.ExpectMsg<WorkerReady>();
        coordinator.IgnoreMessages<RegisterWorker>();
    }

    private static RegistrationAccepted Accepted() =>
        new("coordinator", Model, new DatasetDescriptor("blobs", 11, 0, Data.Fingerprint, Data.Count), MaxShardRows: 8, Gemm.KernelPath);

    private static float[] Reference(float[] weights, int[] rows)
    {
        var sum = new GradientSum(TestData.Spec.ParameterCount);
        ReferenceTrainer.ComputeShard(new Mlp<float>(TestData.Spec, 8), weights, Data, rows, sum);
        return sum.Gradient;
    }
}
