using System.Text.Json;
using System.Text.Json.Serialization;

namespace Reactive.Management.Events;

/// <summary>An event as JSON (snake_case, nulls left out): the same text in the event stream and in webhook bodies.</summary>
internal static class EventJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Serialize(ManagementEvent item) =>
        JsonSerializer.Serialize(new EventBody(item.Id, item.Type, item.At, item.PeerId, item.JobId?.ToString(), item.BatchId?.ToString(), item.Detail), Options);
}

/// <summary>One event's JSON: the <c>data:</c> line of <c>GET /api/events</c> and a webhook's body.</summary>
internal sealed record EventBody(long Id, string Type, DateTimeOffset At, string? PeerId, string? JobId, string? BatchId, string? Detail);
