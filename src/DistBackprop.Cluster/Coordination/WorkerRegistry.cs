// The coordinator's book of workers: who registered, what each one has (its data, its tensor channel, which weights
// version), whether it is reachable, and the figures of the members table. One rule lives here and only here: a
// worker is LIVE — it may be dealt shards — when it has its data, its tensor channel is open (always, for the Akka
// transport) and cluster membership says it is reachable. Also the dealing order (by id, then handle), and the
// last few workers that left or died, for the table. Leaves out: what to do when the live set changes (CoordinatorMachine).
using DistBackprop.Cluster.Protocol;

namespace DistBackprop.Cluster.Coordination;

/// <summary>One registered worker as the coordinator sees it.</summary>
public sealed class WorkerEntry(WorkerHandle handle, string id, string address, bool channelOpen, long now)
{
    public WorkerHandle Handle { get; } = handle;

    public string Id { get; } = id;

    /// <summary>For the members table: "in process", or the node's address.</summary>
    public string Address { get; } = address;

    /// <summary>Sent WorkerReady with the right dataset fingerprint (has its data and workspace).</summary>
    public bool DataReady { get; set; }

    /// <summary>Its tensor channel is open (the Akka transport needs none: always true there).</summary>
    public bool ChannelOpen { get; set; } = channelOpen;

    public bool Reachable { get; set; } = true;

    /// <summary>Its tensor channel broke; it is registering again (shown as "reconnecting").</summary>
    public bool Reconnecting { get; set; }

    /// <summary>The weights version we last sent it (−1: it holds none we know of).</summary>
    public long WeightsVersion { get; set; } = -1;

    public bool IsLive => DataReady && ChannelOpen && Reachable;

    // the members table (ClusterStatus)
    public long Shards { get; set; }

    public double ComputeMs { get; set; }

    public long LastReply { get; set; } = now;

    public int Failures { get; set; }

    /// <summary>"ready", "joining" (registered, loading data or opening its channel), "reconnecting", "unreachable".</summary>
    public string State => !Reachable ? "unreachable" : IsLive ? "ready" : Reconnecting ? "reconnecting" : "joining";

    public WorkerStatus Status(double secondsSinceReply, string? state = null) =>
        new(Id, Address, state ?? State, Shards, Shards > 0 ? ComputeMs / Shards : 0, secondsSinceReply, Failures);
}

/// <summary>The registered workers, and the last few that left or died.</summary>
public sealed class WorkerRegistry
{
    private const int DepartedShown = 4;
    private readonly Dictionary<WorkerHandle, WorkerEntry> _workers = new();
    private readonly List<WorkerStatus> _departed = new();
    private readonly List<WorkerEntry> _ordered = new();
    private bool _orderDirty;

    public int Count => _workers.Count;

    public IEnumerable<WorkerEntry> All => _workers.Values;

    public bool TryGet(WorkerHandle handle, out WorkerEntry entry) => _workers.TryGetValue(handle, out entry!);

    public WorkerEntry? Find(WorkerHandle handle) => _workers.GetValueOrDefault(handle);

    public void Add(WorkerEntry entry)
    {
        _workers.Add(entry.Handle, entry);
        _orderDirty = true;
    }

    /// <summary>Removes the worker; <paramref name="state"/> ("left", "dead") is how the members table shows it from now on.</summary>
    public void Remove(WorkerEntry entry, string state, double secondsSinceReply)
    {
        if (_workers.Remove(entry.Handle))
        {
            _orderDirty = true;
            _departed.Insert(0, entry.Status(secondsSinceReply, state));
            if (_departed.Count > DepartedShown)
            {
                _departed.RemoveAt(_departed.Count - 1);
            }
        }
    }

    /// <summary>Forgets a worker that never became a member of the run (refused): not shown as departed.</summary>
    public void Drop(WorkerEntry entry)
    {
        if (_workers.Remove(entry.Handle))
        {
            _orderDirty = true;
        }
    }

    public int LiveCount()
    {
        var n = 0;
        foreach (var w in _workers.Values)
        {
            n += w.IsLive ? 1 : 0;
        }

        return n;
    }

    /// <summary>Fills <paramref name="into"/> with the live workers in dealing order: by id (ordinal), then handle.</summary>
    public void Live(List<WorkerEntry> into)
    {
        into.Clear();
        foreach (var w in Ordered())
        {
            if (w.IsLive)
            {
                into.Add(w);
            }
        }
    }

    /// <summary>Every registered worker by id, then the last few that left or died, for the members table.</summary>
    public WorkerStatus[] Members(Func<WorkerEntry, double> secondsSinceReply)
    {
        var rows = new WorkerStatus[_workers.Count + _departed.Count];
        var i = 0;
        foreach (var w in Ordered())
        {
            rows[i++] = w.Status(secondsSinceReply(w));
        }

        _departed.CopyTo(rows, i);
        return rows;
    }

    private List<WorkerEntry> Ordered()
    {
        if (_orderDirty)
        {
            _ordered.Clear();
            _ordered.AddRange(_workers.Values);
            _ordered.Sort(static (a, b) =>
            {
                var c = string.CompareOrdinal(a.Id, b.Id);
                return c != 0 ? c : a.Handle.Value.CompareTo(b.Handle.Value);
            });
            _orderDirty = false;
        }

        return _ordered;
    }
}
