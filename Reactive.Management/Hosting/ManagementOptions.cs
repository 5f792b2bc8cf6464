using System.ComponentModel.DataAnnotations;

namespace Reactive.Management.Hosting;

/// <summary>
/// Options of the management server, bound from the <c>Management</c> configuration section
/// (e.g. <c>Management:HeartbeatInterval</c> = <c>00:00:30</c>) and validated at start-up.
/// </summary>
public sealed class ManagementOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "Management";

    /// <summary>The longest heartbeat interval accepted; longer ones cannot keep a stream open through any common proxy.</summary>
    public static readonly TimeSpan MaxHeartbeatInterval = TimeSpan.FromHours(1);

    /// <summary>The shortest <see cref="ApiToken"/> accepted.</summary>
    public const int ApiTokenMinLength = 16;

    // Each option's range is declared once, in its attribute beside its default; the source-generated validator checks
    // them at start (Internal/ManagementOptionsValidator.cs), with the rules that span several options.
    private const string Zero = "00:00:00";
    private const string OneHour = "01:00:00";
    private const string OneMinute = "00:01:00";
    private const string FiveMinutes = "00:05:00";
    private const string Forever = "10675199.02:48:05.4775807";

    /// <summary>The job deadlines these options set.</summary>
    public Jobs.JobTimeouts JobTimeouts => new(AnswerTimeout, PendingTimeToLive);

    /// <summary>
    /// Silence on a Job stream before the server sends a heartbeat (an encrypted empty <c>JobRequest</c>).
    /// Default 30 s, below the 60 s idle limit of nginx, AWS ALB and Cloudflare (100 s). Must be positive and at
    /// most one hour.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, OneHour, MinimumIsExclusive = true)]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// What times heartbeats, job deadlines, hello deadlines and stuck writes: <c>wheel</c> (default; one timer wheel
    /// for the whole host, 10 ms resolution: an action runs up to 10 ms after its due time, never before; see
    /// <see cref="Scheduling.TimerWheelScheduler"/>) or <c>default</c> (Rx's <c>DefaultScheduler</c>: a runtime timer
    /// per stream, made anew on every job). An application that calls <c>UseScheduler</c> times everything on its own.
    /// </summary>
    public string HeartbeatScheduler { get; set; } = HeartbeatSchedulers.Wheel;

    /// <summary>
    /// Spreads heartbeats over time: each stream's first heartbeat comes a random fraction (up to this one) of
    /// <see cref="HeartbeatInterval"/> early, so peers that reconnect together after a proxy or host restart do not
    /// all beat in the same instant ever after. Later heartbeats keep the interval. Default 0 (none); from 0 up to,
    /// not including, 1.
    /// </summary>
    [Range(0.0, 1.0, MaximumIsExclusive = true)]
    public double HeartbeatJitter { get; set; }

    /// <summary>
    /// The server's WireGuard private key file (base64, like <c>wg genkey</c>). Created with mode 0600 on
    /// first start when missing. Default <c>management.key</c>, relative to the working directory.
    /// </summary>
    [Required]
    public string ServerKeyPath { get; set; } = "management.key";

    /// <summary>
    /// Registers any peer that proves its key on the Job stream, instead of answering an unknown key with
    /// <c>PermissionDenied</c>. For demos and tests only. Default false.
    /// </summary>
    public bool AcceptUnknownPeers { get; set; }

    /// <summary>
    /// How long a server key handed out by <c>GetServerKey</c> is announced as valid (<c>expiresAt</c>).
    /// Default 24 h; must be positive.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, Forever, MinimumIsExclusive = true)]
    public TimeSpan ServerKeyValidity { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Where peers and jobs are kept: <c>sqlite</c> (default; one file at <see cref="SqlitePath"/>, kept across
    /// restarts), <c>postgres</c> (shared by several replicas; <see cref="PostgresConnectionString"/>) or <c>memory</c>
    /// (lost with the process; for tests and demos).
    /// </summary>
    public string Store { get; set; } = StoreKinds.Sqlite;

    /// <summary>The SQLite database file. Default <c>management.db</c>, relative to the working directory.</summary>
    public string SqlitePath { get; set; } = "management.db";

    /// <summary>
    /// A sent job not answered within this time becomes <c>timed_out</c>. Counted from the first send. Default 10 min;
    /// must be positive.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, Forever, MinimumIsExclusive = true)]
    public TimeSpan AnswerTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A job not even sent within this time after its creation becomes <c>timed_out</c>. Default 24 h; must be positive.</summary>
    [Range(typeof(TimeSpan), Zero, Forever, MinimumIsExclusive = true)]
    public TimeSpan PendingTimeToLive { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// A write to a Job stream still pending this long means the peer has stopped reading (HTTP/2 flow control holds
    /// the write): the stream is reset and its unanswered jobs wait for the peer's next stream. Default 60 s; more than
    /// 0 and at most 1 h.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, OneHour, MinimumIsExclusive = true)]
    public TimeSpan StuckWriteTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How many jobs one Job stream holds in memory waiting for their write. Further jobs of a peer that reads slowly
    /// wait in the store and go out as writes complete. Default 16; 1 to 10,000.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxQueuedJobsPerStream { get; set; } = Jobs.PeerOutbox.DefaultCapacity;

    /// <summary>
    /// The largest message a peer may send, in bytes; a larger one ends its stream with <c>ResourceExhausted</c>.
    /// Default 1 MiB (an answer's reason is kept to 4 KiB anyway); 1 KiB to 16 MiB.
    /// </summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// How many Job streams the host keeps open at once; a further peer is refused with <c>ResourceExhausted</c> (a
    /// connected peer's new stream, which replaces its old one, is always let in). Default 20,000; at least 1.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentStreams { get; set; } = 20_000;

    /// <summary>
    /// How long a Job stream may take to send its whole hello (its first message); a stream still without one is ended
    /// with <c>DeadlineExceeded</c>. Default 10 s; more than 0 and at most 5 min.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, FiveMinutes, MinimumIsExclusive = true)]
    public TimeSpan HelloTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How many Job streams may wait for their hello at once on the host; a further one is refused with
    /// <c>ResourceExhausted</c> at once. Streams that have not proven a registered key hold little, and only this many.
    /// Default 1,000; at least 1.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxStreamsAwaitingHello { get; set; } = 1_000;

    /// <summary>
    /// How many Job streams of one HTTP/2 connection may wait for their hello at once (a real peer opens one); a further
    /// one is refused with <c>ResourceExhausted</c> at once. Default 20; at least 1.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxStreamsAwaitingHelloPerConnection { get; set; } = 20;

    /// <summary>
    /// Jobs the HTTP API creates per second, over all peers (a token bucket); beyond it the API answers 429 with
    /// <c>Retry-After</c>. Default 100; at least 1.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxJobsPerSecond { get; set; } = 100;

    /// <summary>How many jobs the API may create at once before <see cref="MaxJobsPerSecond"/> applies. Default 200; at least 1.</summary>
    [Range(1, int.MaxValue)]
    public int JobCreationBurst { get; set; } = 200;

    /// <summary>
    /// Whether jobs may be created for a peer that has not said (<c>PATCH /api/peers/{id}</c> with
    /// <c>remote_jobs_allowed</c>). Default true; false makes remote jobs opt-in per peer, as NetBird does.
    /// </summary>
    public bool RemoteJobsAllowedByDefault { get; set; } = true;

    /// <summary>
    /// The event stream (<c>GET /api/events</c>) sends a comment line after this much silence, pushed back by every event,
    /// so that a proxy that judges idleness by data (as it does the Job stream) keeps it open. Default 15 s; more than 0
    /// and at most 1 h.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, OneHour, MinimumIsExclusive = true)]
    public TimeSpan EventsKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long the event log keeps an event for clients that resume with <c>Last-Event-ID</c>; a client asking for
    /// events older than that gets 410. Default 24 h; at least 1 min.
    /// </summary>
    [Range(typeof(TimeSpan), OneMinute, Forever)]
    public TimeSpan EventRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The bearer token the HTTP API (<c>/api</c>) requires (<c>Authorization: Bearer …</c>). When unset and the host
    /// listens on any address beyond loopback, a token is generated at start and printed once (log event 600); when
    /// unset and the host listens on loopback only, the API is open. At least 16 characters when set.
    /// </summary>
    [MinLength(ApiTokenMinLength)]
    public string? ApiToken { get; set; }

    /// <summary>
    /// Named tokens with scopes, each stored as the SHA-256 of the token (see <see cref="ApiTokenOptions"/>). A request
    /// whose token lacks the route's scope gets 403. <see cref="ApiToken"/>, when set, still works and has every scope.
    /// Empty by default.
    /// </summary>
    public IList<ApiTokenOptions> ApiTokens { get; init; } = [];

    /// <summary>Webhooks that receive events as they are recorded (see <see cref="WebhookOptions"/>). Empty by default.</summary>
    public IList<WebhookOptions> Webhooks { get; init; } = [];

    /// <summary>
    /// The Npgsql connection string when <see cref="Store"/> is <c>postgres</c>
    /// (e.g. <c>Host=db;Database=management;Username=management;Password=…</c>). Never logged.
    /// </summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>
    /// With <c>postgres</c>: how often a replica looks in the store for pending jobs of the peers it holds, in case a
    /// <c>NOTIFY</c> hint was lost. Default 10 s; more than 0 and at most 1 h.
    /// </summary>
    [Range(typeof(TimeSpan), Zero, OneHour, MinimumIsExclusive = true)]
    public TimeSpan PostgresPollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether <paramref name="peer"/> takes remote jobs: its own choice, else <see cref="RemoteJobsAllowedByDefault"/>.</summary>
    internal bool AllowsRemoteJobs(Peers.Peer peer) => peer.RemoteJobsAllowed ?? RemoteJobsAllowedByDefault;

    /// <summary>
    /// Whether <c>MapReactiveManagement()</c> serves the operator console at <c>/</c> (and <c>/console/…</c>). Default
    /// true; false for a host that serves its own page at <c>/</c>.
    /// </summary>
    public bool Console { get; set; } = true;

    /// <summary>
    /// This replica's name, shown as the <c>replica</c> holding a peer's stream. Default the machine name; give each
    /// replica its own.
    /// </summary>
    [Required]
    public string ReplicaName { get; set; } = Environment.MachineName;

    /// <summary>The accepted values of <see cref="HeartbeatScheduler"/>.</summary>
    public static class HeartbeatSchedulers
    {
        /// <summary>One timer wheel for the host (<see cref="Scheduling.TimerWheelScheduler"/>).</summary>
        public const string Wheel = "wheel";

        /// <summary>Rx's <c>DefaultScheduler</c>: runtime timers.</summary>
        public const string Default = "default";
    }

    /// <summary>The accepted values of <see cref="Store"/>.</summary>
    public static class StoreKinds
    {
        /// <summary>The embedded SQLite database.</summary>
        public const string Sqlite = "sqlite";

        /// <summary>In memory, lost with the process.</summary>
        public const string Memory = "memory";

        /// <summary>PostgreSQL, shared by several replicas.</summary>
        public const string Postgres = "postgres";
    }
}
