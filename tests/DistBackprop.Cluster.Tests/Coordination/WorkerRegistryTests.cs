// The registry's one rule — live = data ready, channel open (always, for the Akka transport), reachable — the
// dealing order, and how the members table shows workers that are gone.
using DistBackprop.Cluster.Coordination;

namespace DistBackprop.Cluster.Tests.Coordination;

public sealed class WorkerRegistryTests
{
    [Fact]
    public void A_worker_is_live_only_with_its_data_its_channel_and_reachable()
    {
        var w = new WorkerEntry(new WorkerHandle(1), "w1", "node", channelOpen: false, now: 0);
        Assert.Equal("joining", w.State);
        w.DataReady = true;
        Assert.False(w.IsLive);
        w.ChannelOpen = true;
        Assert.True(w.IsLive);
        Assert.Equal("ready", w.State);
        w.Reachable = false;
        Assert.False(w.IsLive);
        Assert.Equal("unreachable", w.State);
        w.Reachable = true;
        (w.ChannelOpen, w.DataReady, w.Reconnecting) = (false, false, true);
        Assert.Equal("reconnecting", w.State);
    }

    [Fact]
    public void Live_workers_come_in_dealing_order_and_the_gone_ones_stay_in_the_table_as_left_or_dead()
    {
        var registry = new WorkerRegistry();
        WorkerEntry Add(int h, string id)
        {
            var e = new WorkerEntry(new WorkerHandle(h), id, "n", channelOpen: true, now: 0) { DataReady = true };
            registry.Add(e);
            return e;
        }

        var c = Add(1, "c");
        var a = Add(2, "a");
        var b2 = Add(4, "b");
        var b1 = Add(3, "b");
        var live = new List<WorkerEntry>();
        registry.Live(live);
        Assert.Equal([a, b1, b2, c], live);
        registry.Remove(c, "dead", 1.5);
        registry.Remove(a, "left", 0.5);
        Assert.Equal(2, registry.LiveCount());
        var rows = registry.Members(_ => 0);
        Assert.Equal(["b:ready", "b:ready", "a:left", "c:dead"], rows.Select(r => $"{r.WorkerId}:{r.State}"));
    }
}
