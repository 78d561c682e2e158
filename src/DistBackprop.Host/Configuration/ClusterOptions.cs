// The settings `coordinator` and `worker` add to (or use instead of) the training options, with
// their defaults. Same sources and name mapping as TrainingOptions: --min-workers ↔
// DISTBACKPROP__MINWORKERS ↔ { "DistBackprop": { "MinWorkers": 2 } }. The failure-detector timings
// are bound separately from the section "DistBackprop:Cluster" (ClusterSettings).
// Leaves out: parsing and validation (OptionsBinder, ClusterSettings).
namespace DistBackprop.Host.Configuration;

/// <summary>What <c>distbackprop coordinator</c> adds to <see cref="TrainingOptions"/>.</summary>
public sealed class CoordinatorOptions
{
    /// <summary>--host: the address to bind. Env: DISTBACKPROP__HOST.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>--port: the coordinator's (seed node's) port. Env: DISTBACKPROP__PORT.</summary>
    public int Port { get; set; } = 4053;

    /// <summary>--public-host: the name other nodes reach this one by (containers); null = --host. Env: DISTBACKPROP__PUBLICHOST.</summary>
    public string? PublicHost { get; set; }

    /// <summary>--min-workers: workers that must be ready before step 1 (later the run goes on with whoever is alive). Env: DISTBACKPROP__MINWORKERS.</summary>
    public int MinWorkers { get; set; } = 1;

    /// <summary>--fan-in K: with more than K live workers the step goes to at most K aggregation groups (docs/aggregation.md); 0 = off
    /// (every worker talks to the coordinator, the star). Env: DISTBACKPROP__FANIN.</summary>
    public int FanIn { get; set; }

    /// <summary>--max-frame-size: Akka's largest message, the same on every node (64MiB, 128KiB, 1048576). Env: DISTBACKPROP__MAXFRAMESIZE.</summary>
    public string MaxFrameSize { get; set; } = "64MiB";

    /// <summary>--tensor-transport tcp|akka: weights and gradients over a TCP connection per worker, or inside Akka messages (the fallback);
    /// workers follow the coordinator. Null = DistBackprop__Cluster__TensorTransport, else tcp. Env: DISTBACKPROP__TENSORTRANSPORT.</summary>
    public string? TensorTransport { get; set; }

    /// <summary>--tensor-port: where the service port (tensor channel and enrolment) listens; null = --port + 1, 0 = any free port. Env: DISTBACKPROP__TENSORPORT.</summary>
    public int? TensorPort { get; set; }

    /// <summary>--state-dir: where the cluster CA, this node's certificate and join tokens live (&lt;dir&gt;/coordinator, owner-only);
    /// null = ~/.distbackprop. Env: DISTBACKPROP__STATEDIR.</summary>
    public string? StateDir { get; set; }

    /// <summary>--join-token dbp1.ID.SECRET[.FINGERPRINT]: also accept this token (worker or monitor) while running, e.g. one shared by a
    /// compose file; the join line then shows it. Env: DISTBACKPROP__JOINTOKEN.</summary>
    public string? JoinToken { get; set; }

    /// <summary>--tls-cert / --tls-key / --tls-ca: bring-your-own PEM files instead of the state dir's CA (no enrolment then).
    /// Env: DISTBACKPROP__TLSCERT, DISTBACKPROP__TLSKEY, DISTBACKPROP__TLSCA.</summary>
    public string? TlsCert { get; set; }

    public string? TlsKey { get; set; }

    public string? TlsCa { get; set; }

    /// <summary>--insecure: plain TCP, no certificates (prints a warning). Env: DISTBACKPROP__INSECURE.</summary>
    public bool Insecure { get; set; }
}

/// <summary>Options of <c>distbackprop worker</c>. Model and data options are null/unset when the worker adopts the coordinator's.</summary>
public sealed class WorkerOptions
{
    /// <summary>--seed-nodes akka.tcp://distbackprop@HOST:PORT (comma-separated for several). Env: DISTBACKPROP__SEEDNODES.</summary>
    public string? SeedNodes { get; set; }

    /// <summary>--host: the address to bind. Env: DISTBACKPROP__HOST.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>--port: 0 = any free port. Env: DISTBACKPROP__PORT.</summary>
    public int Port { get; set; }

    /// <summary>--public-host: the name other nodes reach this one by; null = --host. Env: DISTBACKPROP__PUBLICHOST.</summary>
    public string? PublicHost { get; set; }

    /// <summary>--threads: kernel threads for this worker's shards; null = the number of cores. Env: DISTBACKPROP__THREADS.</summary>
    public int? Threads { get; set; }

    /// <summary>--max-frame-size, the same on every node. Env: DISTBACKPROP__MAXFRAMESIZE.</summary>
    public string MaxFrameSize { get; set; } = "64MiB";

    /// <summary>--data: when set, the worker loads this dataset itself and the coordinator checks its fingerprint. Env: DISTBACKPROP__DATA.</summary>
    public string? Data { get; set; }

    /// <summary>--layers: when set, the coordinator checks the architecture. Env: DISTBACKPROP__LAYERS.</summary>
    public string? Layers { get; set; }

    /// <summary>--activation, checked with the architecture (default relu when --layers is given). Env: DISTBACKPROP__ACTIVATION.</summary>
    public string? Activation { get; set; }

    /// <summary>--loss, checked with the architecture (default softmax-ce when --layers is given). Env: DISTBACKPROP__LOSS.</summary>
    public string? Loss { get; set; }

    /// <summary>--seed of the worker's own data (synthetic sets, --test-split). Env: DISTBACKPROP__SEED.</summary>
    public long? Seed { get; set; }

    /// <summary>--test-split of the worker's own data. Env: DISTBACKPROP__TESTSPLIT.</summary>
    public double? TestSplit { get; set; }

    /// <summary>--val-split of the worker's own data (the rows held out of training, as for train). Env: DISTBACKPROP__VALSPLIT.</summary>
    public double? ValSplit { get; set; }
    /// <summary>--join TOKEN: enrol with the coordinator (the token from its `join:` line or `token create`) unless the state dir
    /// already holds a certificate of that cluster. Env: DISTBACKPROP__JOIN.</summary>
    public string? Join { get; set; }

    /// <summary>--service-port: the coordinator's service port, for enrolment; null = the seed node's port + 1. Env: DISTBACKPROP__SERVICEPORT.</summary>
    public int? ServicePort { get; set; }

    /// <summary>--state-dir: where this worker keeps its certificate (&lt;dir&gt;/worker/node.pem); null = ~/.distbackprop. Env: DISTBACKPROP__STATEDIR.</summary>
    public string? StateDir { get; set; }

    /// <summary>--tls-cert / --tls-key / --tls-ca: bring-your-own PEM files (a worker certificate of the cluster CA). Env: DISTBACKPROP__TLSCERT, ….</summary>
    public string? TlsCert { get; set; }

    public string? TlsKey { get; set; }

    public string? TlsCa { get; set; }

    /// <summary>--insecure: plain TCP, no certificates. Env: DISTBACKPROP__INSECURE.</summary>
    public bool Insecure { get; set; }

    /// <summary>--plain. Env: DISTBACKPROP__PLAIN.</summary>
    public bool Plain { get; set; }

    /// <summary>--verbose: Akka's info lines and stack traces. Env: DISTBACKPROP__VERBOSE.</summary>
    public bool Verbose { get; set; }
}
