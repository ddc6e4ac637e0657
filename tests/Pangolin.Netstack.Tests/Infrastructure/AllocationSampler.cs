using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// The runtime's allocation sampling (one event per ~100 KB allocated, naming the type that crossed the mark), so
/// that an allocation test that fails says what allocated.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly ConcurrentDictionary<string, int> _types = new();

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true
            && eventData.PayloadNames?.IndexOf("TypeName") is >= 0 and var index
            && eventData.Payload?[index] is string type)
        {
            _types.AddOrUpdate(type, 1, static (_, count) => count + 1);
        }
    }

    public string Describe() =>
        _types.IsEmpty ? "no samples" : string.Join(", ", _types.OrderByDescending(pair => pair.Value).Select(pair => $"{pair.Key} ×{pair.Value}"));
}
