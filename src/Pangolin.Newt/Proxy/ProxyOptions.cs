using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Pangolin.Newt.Proxy;

/// <summary>How the relays behave; the defaults are upstream newt's where it has one.</summary>
internal sealed record ProxyOptions
{
    /// <summary>Clock for the connect timeout, the shutdown grace and UDP idle expiry.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How long a TCP connect to a target may take before the tunnel connection is dropped.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long in-flight TCP relays may go on finishing when the manager is disposed.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A UDP session closes after this long without a datagram either way (<c>--udp-proxy-idle-timeout</c>).</summary>
    public TimeSpan UdpIdleTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>UDP sessions per listener; a new client beyond this closes the longest-idle session.</summary>
    public int UdpMaxSessions { get; init; } = 1024;

    /// <summary>
    /// The updown hook, called as <c>(action, protocol, target)</c> with action <c>add</c> or <c>remove</c>, protocol
    /// <c>tcp</c> or <c>udp</c> and target <c>host:port</c>; a <c>host:port</c> it returns on <c>add</c> replaces the
    /// target. <see cref="UpDownScript.CreateHook"/> makes one from <c>--updown</c>; null runs nothing.
    /// </summary>
    public Func<string, string, string, string?>? UpDown { get; init; }

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The relay settings newt's command line sets: the UDP idle timeout and the updown script.</summary>
    public static ProxyOptions From(NewtOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return new ProxyOptions
        {
            Time = time ?? TimeProvider.System,
            UdpIdleTimeout = options.UdpProxyIdleTimeout,
            UpDown = options.UpDownScript is { Length: > 0 } script
                ? UpDownScript.CreateHook(script, logger: loggerFactory.CreateLogger(nameof(UpDownScript)))
                : null,
            LoggerFactory = loggerFactory,
        };
    }
}
