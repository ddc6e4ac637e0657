using System.Net.WebSockets;
using System.Text.Json.Serialization.Metadata;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;

namespace Pangolin.Server.ControlChannel;

/// <summary>
/// The live newt connections of this server, one per newt id (the newest wins), and the configuration version of
/// each: raised by every change pushed to a newt and stamped on every message, so that a newt that missed one can
/// tell from its next ping (upstream's <c>clientConfigVersions</c>).
/// </summary>
public sealed partial class ConnectionRegistry(ILogger<ConnectionRegistry> logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _byNewt = new(StringComparer.Ordinal);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byNewt.Count;
            }
        }
    }

    /// <summary>Makes <paramref name="connection"/> the newt's connection; an older one is told why and closed.</summary>
    public void Add(NewtConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        NewtConnection? replaced = null;
        lock (_lock)
        {
            if (_byNewt.TryGetValue(connection.NewtId, out var entry))
            {
                replaced = entry.Current;
                entry.Current = connection;
            }
            else
            {
                _byNewt[connection.NewtId] = new Entry(connection);
            }
        }
        if (replaced is not null)
        {
            LogReplaced(logger, connection.NewtId);
            replaced.TrySend(WsMessage.Create(MessageTypes.NewtError,
                new NewtErrorData { Code = MessageTypes.ErrorCodeReplaced, Message = "Another newt connected with this id; this connection is closed" },
                ProtocolJsonContext.Default.NewtErrorData));
            replaced.Close(NewtConnection.Replaced, "replaced by a newer connection with the same newt id");
        }
    }

    /// <summary>Forgets the connection; true when it was the newt's current one (the newt is now disconnected).</summary>
    public bool Remove(NewtConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_lock)
        {
            if (_byNewt.TryGetValue(connection.NewtId, out var entry) && entry.Current == connection)
            {
                _byNewt.Remove(connection.NewtId);
                return true;
            }
            return false;
        }
    }

    public bool IsConnected(string newtId)
    {
        lock (_lock)
        {
            return _byNewt.ContainsKey(newtId);
        }
    }

    /// <summary>The version the server holds for a connected newt; null when it is not connected.</summary>
    public long? ConfigVersion(string newtId)
    {
        lock (_lock)
        {
            return _byNewt.TryGetValue(newtId, out var entry) ? entry.Version : null;
        }
    }

    /// <summary>
    /// Sends to the newt's current connection, raising its version first for a configuration change. False when the
    /// newt is not connected: it gets the whole state with <c>newt/sync</c> when it comes back.
    /// </summary>
    public bool Send<T>(string newtId, string type, T data, JsonTypeInfo<T> typeInfo, bool incrementVersion = false)
    {
        lock (_lock)
        {
            if (!_byNewt.TryGetValue(newtId, out var entry))
            {
                return false;
            }
            if (incrementVersion)
            {
                entry.Version++;
            }
            // Stamped and queued under the lock, so versions reach the newt in the order they were taken.
            return entry.Current.TrySend(WsMessage.Create(type, data, typeInfo, entry.Version));
        }
    }

    /// <summary>Answers on one connection (pong, wg/connect), stamped with the newt's current version.</summary>
    public bool Reply<T>(NewtConnection connection, string type, T data, JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_lock)
        {
            var version = _byNewt.TryGetValue(connection.NewtId, out var entry) ? entry.Version : 0;
            return connection.TrySend(WsMessage.Create(type, data, typeInfo, version));
        }
    }

    /// <summary>Closes the newt's connection, after what is queued for it (e.g. <c>newt/wg/terminate</c>) has gone out.</summary>
    public bool Disconnect(string newtId, WebSocketCloseStatus status, string reason)
    {
        NewtConnection? current;
        lock (_lock)
        {
            current = _byNewt.TryGetValue(newtId, out var entry) ? entry.Current : null;
        }
        current?.Close(status, reason);
        return current is not null;
    }

    /// <summary>Closes every connection (server shutdown).</summary>
    public void CloseAll(WebSocketCloseStatus status, string reason)
    {
        List<NewtConnection> all;
        lock (_lock)
        {
            all = [.. _byNewt.Values.Select(e => e.Current)];
        }
        foreach (var connection in all)
        {
            connection.Close(status, reason);
        }
    }

    private sealed class Entry(NewtConnection current)
    {
        public NewtConnection Current { get; set; } = current;

        public long Version { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Newt {NewtId} connected again; its older connection is closed")]
    private static partial void LogReplaced(ILogger logger, string newtId);
}
