namespace Reactive.Management.Hosting;

/// <summary>
/// One webhook (<c>Management:Webhooks</c>): every event of <see cref="Types"/> is POSTed to <see cref="Url"/> as JSON,
/// signed with <see cref="Secret"/>, in order, retried until it is accepted or <see cref="MaxAttempts"/> fail.
/// </summary>
public sealed class WebhookOptions
{
    /// <summary>Where events go: an absolute http(s) URL. Required.</summary>
    public string Url { get; set; } = "";

    /// <summary>
    /// The HMAC-SHA256 key (UTF-8) of the <c>X-Reactive-Signature: sha256=&lt;hex&gt;</c> header over the body. Required;
    /// at least 16 characters.
    /// </summary>
    public string Secret { get; set; } = "";

    /// <summary>The event types to send (<c>job.succeeded</c>, <c>peer.disconnected</c>, …); empty (the default): all.</summary>
    public IList<string> Types { get; init; } = [];

    /// <summary>How many tries an event gets before it is marked failed. Default 8; 1 to 100.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The wait before the second try; each later wait doubles (with jitter), up to 5 min. Default 1 s; 1 ms to 1 h.</summary>
    public TimeSpan FirstRetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one POST may take before it counts as failed (a hanging receiver). Default 10 s; 1 ms to 5 min.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
