// The worker actor, part 3: joining — registration retries, the coordinator's answer, loading the dataset, and
// becoming ready with a transport (the Joining and Loading states). Leaves out: the states themselves (Worker.cs).
using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using DistBackprop.Cluster.Channel;
using DistBackprop.Cluster.Protocol;
using DistBackprop.Core.Model;
using DistBackprop.Core.Tensors;

namespace DistBackprop.Cluster.Actors;

public sealed partial class Worker
{
    // ---- joining ----------------------------------------------------------------------------------

    private RegisterWorker Registration() =>
        new(_settings.WorkerId, _settings.KernelPath, _settings.Model, _settings.Dataset?.Fingerprint, _pool.Threads);

    private void MemberSeen(Member m)
    {
        if (m.HasRole(CoordinatorRole) && _coordinatorNodes.Add(m.Address))
        {
            _log.Info("worker {0}: coordinator node up at {1}", _settings.WorkerId, m.Address);
            Self.Tell(RetryTick.Instance); // register now (only Joining acts on it)
        }
    }

    /// <summary>(Re)sends the registration to every known coordinator; warns now and then.</summary>
    private void Retry()
    {
        if (_settings.Coordinator is { } local)
        {
            local.Tell(Registration());
            return;
        }

        foreach (var address in _coordinatorNodes)
        {
            Context.ActorSelection(new RootActorPath(address) / "user" / Coordinator.ActorName).Tell(Registration());
        }

        if (Stopwatch.GetElapsedTime(_searchSince) > _settings.SearchWarning)
        {
            _searchSince = Stopwatch.GetTimestamp();
            _log.Warning("worker {0}: no coordinator yet ({1}); still trying", _settings.WorkerId,
                _coordinatorNodes.Count == 0 ? "no member with role coordinator is up" : $"no answer from {string.Join(", ", _coordinatorNodes)}");
        }
    }

    private void HandleAccepted(RegistrationAccepted m)
    {
        _accepted = m;
        _finished = false;
        _coordinator = Sender;
        Context.Watch(Sender);
        if (!string.Equals(m.KernelPath, _settings.KernelPath, StringComparison.Ordinal))
        {
            _log.Warning("worker {0}: kernel path {1} differs from the coordinator's {2}", _settings.WorkerId, _settings.KernelPath, m.KernelPath);
        }

        ModelSpec spec;
        try
        {
            spec = m.Model.ToSpec();
        }
        catch (Exception e)
        {
            Refused($"worker {_settings.WorkerId}: the coordinator's model {m.Model} is not usable: {e.Message}");
            return;
        }

        if (_mlp is null || !_mlp.Spec.Equals(spec) || _mlp.MaxRows < m.MaxShardRows)
        {
            _mlp = new Mlp<float>(spec, m.MaxShardRows, _pool);
            _streamer = new GradientStreamer(spec.Layout);
        }

        _log.Info("worker {0}: accepted by {1}: model {2}, data {3} (fingerprint {4})", _settings.WorkerId, m.CoordinatorId, m.Model, m.Dataset.Source ?? "default", m.Dataset.Fingerprint);
        Become(Loading);
        if (_settings.Dataset is { } own)
        {
            Self.Tell(new DataLoaded(m.Dataset, own, null));
        }
        else if (_data is not null && _data.Fingerprint == m.Dataset.Fingerprint)
        {
            Self.Tell(new DataLoaded(m.Dataset, _data, null));
        }
        else if (_settings.LoadDataset is { } load)
        {
            var descriptor = m.Dataset;
            Task.Run(() => load(descriptor)).ContinueWith(
                t => new DataLoaded(descriptor, t.IsCompletedSuccessfully ? t.Result : null, t.Exception?.GetBaseException().Message),
                TaskContinuationOptions.ExecuteSynchronously).PipeTo(Self);
        }
        else
        {
            Refused($"worker {_settings.WorkerId} has no dataset and no way to load the coordinator's ({m.Dataset.Source ?? "default"})");
        }
    }

    private void HandleDataLoaded(DataLoaded m)
    {
        if (!ReferenceEquals(m.For, _accepted?.Dataset))
        {
            return; // for an older registration
        }

        if (m.Data is null)
        {
            Refused($"worker {_settings.WorkerId} could not load the dataset {m.For.Source ?? "default"}: {m.Error}");
            return;
        }

        if (!_mlp!.Spec.Fits(m.Data))
        {
            Refused($"worker {_settings.WorkerId}: dataset {m.Data.Name} ({m.Data.FeatureCount} features, {m.Data.Classes} classes) does not fit model {_accepted!.Model}");
            return;
        }

        _data = m.Data;
        if (_accepted!.TensorChannel is { } endpoint)
        {
            ConnectChannel(endpoint); // WorkerReady once it is up
            return;
        }

        Ready(new AkkaWorkerTransport(_coordinator!, Self, _serializer));
    }

    /// <summary>Has data and transport: tell the coordinator and serve.</summary>
    private void Ready(IWorkerTransport transport)
    {
        _transport?.Dispose();
        _transport = transport;
        _coordinator!.Tell(new WorkerReady(_settings.WorkerId, _data!.Fingerprint));
        Become(Serving);
    }
}
