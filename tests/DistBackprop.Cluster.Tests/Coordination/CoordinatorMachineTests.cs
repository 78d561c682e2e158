// The coordinator's state machine driven directly (no actors, a simulated clock), one rule per test: the start gate
// re-opens after a worker blinks unreachable; an assignee's malformed or non-finite result is refused and the shard
// computed again elsewhere, while a second non-finite result for the shard is believed (exit 3); with a tensor channel
// a reply inside an Akka message never counts. Each run that completes is checked against the reference loop.
// Leaves out: random interleavings (ProtocolSimulationTests) and the actor shell (CoordinatorProtocolTests).
using DistBackprop.Cluster.Coordination;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Cluster.Tests.Simulation;
using DistBackprop.Core.Data;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;
using DistBackprop.Core.Training;

namespace DistBackprop.Cluster.Tests.Coordination;

public sealed class CoordinatorMachineTests
{
    private static readonly Dataset Data = TestData.Blobs(128);
    private static readonly WorkerHandle A = new(1);
    private static readonly WorkerHandle B = new(2);

    [Fact]
    public void The_start_gate_opens_when_a_worker_that_blinked_unreachable_comes_back()
    {
        var h = new Harness(minWorkers: 2);
        h.Join(A);
        h.Machine.Reachability(A, reachable: false);
        h.Join(B);
        Assert.Empty(h.Work); // 1 of 2 live
        h.Machine.Reachability(A, reachable: true);
        Assert.Equal(2, h.Work.Count); // step 1 dealt to both at once
    }

    [Fact]
    public void A_malformed_result_of_the_assignee_is_refused_and_computed_again_by_another_worker()
    {
        var h = new Harness(minWorkers: 2);
        h.Join(A);
        h.Join(B);
        var (toA, toB) = (h.WorkFor(A), h.WorkFor(B));
        var good = h.Compute(toA, 0);
        h.Machine.ShardComputed(A, good with { Samples = good.Samples + 1 }, ReplyPath.Akka, finite: true); // off by one
        Assert.Equal(1, h.Machine.DroppedReplies.Refused);
        var again = h.WorkFor(B, skip: 1); // A's shard went to B
        Assert.Equal([0], again.Shards.Select(s => s.Shard));
        h.Machine.ShardComputed(A, good, ReplyPath.Akka, finite: true); // A's honest copy is no longer its to give
        Assert.Equal(1, h.Machine.DroppedReplies.Foreign);
        var answered = h.Work.Count;
        h.Answer(B, toB);
        h.Answer(B, again);
        h.RunToEnd(answered);
        h.AssertReference();
    }

    [Fact]
    public void A_non_finite_result_is_computed_again_and_only_a_second_one_ends_the_run_as_diverged()
    {
        var h = new Harness(minWorkers: 2);
        h.Join(A);
        h.Join(B);
        var (toA, toB) = (h.WorkFor(A), h.WorkFor(B));
        var bad = h.Compute(toA, 0);
        bad = bad with { Gradient = bad.Gradient.ToArray() };
        bad.Gradient[3] = float.NaN;
        h.Machine.ShardComputed(A, bad, ReplyPath.Akka, finite: false);
        Assert.Equal(1, h.Machine.DroppedReplies.Refused);
        Assert.Null(h.Failed);
        var again = h.WorkFor(B, skip: 1);
        h.Machine.ShardComputed(B, bad, ReplyPath.Akka, finite: false); // B agrees: the training itself diverged
        h.Answer(B, toB);
        Assert.NotNull(h.Failed);
        Assert.Equal(3, h.Failed!.ExitCode);
        Assert.Contains("layers.0.weight", h.Failed.Reason, StringComparison.Ordinal);
        Assert.Single(again.Shards);
    }

    [Fact]
    public void With_a_tensor_channel_a_reply_inside_an_akka_message_never_counts()
    {
        var h = new Harness(minWorkers: 1, usesChannel: true);
        h.Join(A);
        var work = h.WorkFor(A);
        foreach (var s in work.Shards)
        {
            h.Machine.ShardComputed(A, h.Compute(work, s.Shard), ReplyPath.Akka, finite: true); // a forged sender path could say A
        }

        Assert.Equal(work.Shards.Length, h.Machine.DroppedReplies.Foreign);
        Assert.Equal(0, h.Machine.Round!.Filled);
        foreach (var s in work.Shards)
        {
            h.Machine.ShardComputed(A, h.Compute(work, s.Shard), ReplyPath.Channel, finite: true);
        }

        Assert.Equal(1, h.Machine.CurrentStep - 1); // step 1 done, step 2 open
    }

    [Fact]
    public void A_channel_closed_on_a_malformed_frame_counts_as_a_refused_result_and_its_shards_are_computed_again()
    {
        var h = new Harness(minWorkers: 2, usesChannel: true);
        h.Join(A);
        h.Join(B);
        var (toA, toB) = (h.WorkFor(A), h.WorkFor(B));
        h.Machine.ChannelClosed(A, "connection lost (reset)"); // a broken link is no refusal
        Assert.Equal(0, h.Machine.DroppedReplies.Refused);
        var again = h.WorkFor(B, skip: 1);
        Assert.Equal(toA.Shards.Select(s => s.Shard), again.Shards.Select(s => s.Shard));
        h.Machine.ChannelClosed(B, "tensor channel: the part [0, 10) of shard 1 overlaps the part [0, 10)", malformed: true);
        Assert.Equal(1, h.Machine.DroppedReplies.Refused);
        Assert.NotNull(toB);
    }

    [Fact]
    public void A_worker_stopping_after_the_run_is_over_is_no_warning_but_one_dying_mid_run_is()
    {
        var h = new Harness(minWorkers: 2);
        h.Join(A);
        h.Join(B);
        h.Machine.Terminated(B, removed: false); // mid-run: the user must hear of it
        Assert.Contains(h.Notices, n => n.Level == "warning" && n.Message.StartsWith("worker w2 left;", StringComparison.Ordinal));
        h.RunToEnd(0);
        h.AssertReference();
        var before = h.Notices.Count;
        h.Machine.Terminated(A, removed: false); // the teardown after "done" (CI saw its warning in `train --plain` once)
        Assert.Equal(before, h.Notices.Count);
    }

    /// <summary>A machine with a recording outbox; workers are answered by the test with real shard sums.</summary>
    private sealed class Harness : ICoordinatorOutbox
    {
        private readonly TrainingConfig _config = TestData.Config(shards: 2, steps: 4);
        private readonly Mlp<float> _mlp = new(TestData.Spec, 64);
        private readonly Dictionary<WorkerHandle, float[]> _weights = new();
        private readonly bool _usesChannel;

        public Harness(int minWorkers, bool usesChannel = false)
        {
            _usesChannel = usesChannel;
            State = new TrainingState(_config, Data.Count, Initializer.Create(_config.Spec, 5));
            Machine = new CoordinatorMachine(
                new CoordinatorSettings { State = State, Dataset = new DatasetDescriptor("blobs", 11, 0, Data.Fingerprint, Data.Count), MinWorkers = minWorkers },
                this, new SimulatedTime(), KernelPool.Single, usesChannel);
            Machine.Start();
        }

        public CoordinatorMachine Machine { get; }

        public TrainingState State { get; }

        public List<(WorkerHandle To, ComputeShards Work)> Work { get; } = new();

        public TrainingFailed? Failed { get; private set; }

        public TrainingCompleted? Completed { get; private set; }

        public List<TrainingNotice> Notices { get; } = new();

        public void Join(WorkerHandle w)
        {
            Machine.Register(w, new RegisterWorker($"w{w.Value}", Gemm.KernelPath, null, null, 1), "test");
            if (_usesChannel)
            {
                Machine.ChannelOpened(w);
            }

            Machine.Ready(w, new WorkerReady($"w{w.Value}", Data.Fingerprint));
        }

        public ComputeShards WorkFor(WorkerHandle w, int skip = 0) => Work.Where(x => x.To == w).Skip(skip).First().Work;

        public ShardComputed Compute(ComputeShards work, int shard)
        {
            var s = work.Shards.Single(x => x.Shard == shard);
            var sum = new GradientSum(_config.Spec.ParameterCount);
            ReferenceTrainer.ComputeShard(_mlp, _weights[Work.First(x => ReferenceEquals(x.Work, work)).To], Data, s.Indices, sum);
            return new ShardComputed(work.Step, shard, sum.Gradient, sum.LossSum, sum.Samples, sum.Correct, 0, 0);
        }

        public void Answer(WorkerHandle w, ComputeShards work)
        {
            foreach (var s in work.Shards)
            {
                Machine.ShardComputed(w, Compute(work, s.Shard), _usesChannel ? ReplyPath.Channel : ReplyPath.Akka, finite: true);
            }
        }

        /// <summary>Answers every piece of work not answered yet (from <paramref name="from"/> on), each by its worker, until the run ends.</summary>
        public void RunToEnd(int from)
        {
            for (var next = from; !Machine.IsOver && next < Work.Count; next++)
            {
                Answer(Work[next].To, Work[next].Work);
            }

            Assert.True(Machine.IsOver, "the run did not end");
        }

        public void AssertReference()
        {
            Assert.NotNull(Completed);
            Assert.Equal("identical", TestData.FirstDifference(TestData.Reference(_config, Data), Completed!.Parameters));
        }

        void ICoordinatorOutbox.Tell(WorkerHandle worker, IDistBackpropMessage message)
        {
        }

        void ICoordinatorOutbox.Accept(WorkerHandle worker, string workerId, RegistrationAccepted message)
        {
        }

        void ICoordinatorOutbox.SendWork(WorkerHandle worker, ComputeShards work, float[]? weights)
        {
            if (weights is not null)
            {
                _weights[worker] = weights.ToArray();
            }

            Work.Add((worker, work));
        }

        void ICoordinatorOutbox.Plan(WorkerHandle worker, long step, int piece, int shards, GroupRole role)
        {
        }

        void ICoordinatorOutbox.Watch(WorkerHandle worker)
        {
        }

        void ICoordinatorOutbox.Forget(WorkerHandle worker)
        {
        }

        void ICoordinatorOutbox.Publish(ITrainingEvent e)
        {
            switch (e)
            {
                case TrainingFailed f:
                    Failed = f;
                    break;
                case TrainingCompleted c:
                    Completed = c;
                    break;
                case TrainingNotice n:
                    Notices.Add(n);
                    break;
            }
        }

        void ICoordinatorOutbox.Return(float[] gradient)
        {
        }

        void ICoordinatorOutbox.Log(LogSeverity severity, string message)
        {
        }
    }
}
