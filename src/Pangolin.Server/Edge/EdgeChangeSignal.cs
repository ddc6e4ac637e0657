using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Pangolin.Server.Edge;

/// <summary>
/// Tells the edge's config source that something it serves may have changed: every committed write to a table the
/// routes are built from raises it, whether it came through SaveChanges or ExecuteUpdate/ExecuteDelete, so no API can
/// forget to. The source coalesces the signals and publishes only real changes.
/// </summary>
public sealed class EdgeChangeSignal : DbCommandInterceptor, IDbTransactionInterceptor
{
    private static readonly string[] Tables =
    [
        "resources", "targets", "sites", "target_health_checks", "resource_rules", "resource_passwords", "resource_pincodes",
        "resource_header_auths", "orgs", "exit_nodes", "certificates", "domains",
    ];

    private readonly ConditionalWeakTable<DbTransaction, object> _pending = [];
    private Action? _changed;

    /// <summary>Called after each write that may change the edge's routes.</summary>
    public void Subscribe(Action changed) => _changed += changed;

    public override int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        Inspect(command);
        return result;
    }

    public override ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        Inspect(command);
        return ValueTask.FromResult(result);
    }

    public override DbDataReader ReaderExecuted(DbCommand command, CommandExecutedEventData eventData, DbDataReader result)
    {
        Inspect(command);
        return result;
    }

    public override ValueTask<DbDataReader> ReaderExecutedAsync(DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
    {
        Inspect(command);
        return ValueTask.FromResult(result);
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData)
    {
        if (_pending.Remove(transaction))
        {
            Raise();
        }
    }

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        TransactionCommitted(transaction, eventData);
        return Task.CompletedTask;
    }

    /// <summary>Raises the signal by hand (a change the database does not see).</summary>
    public void Raise() => _changed?.Invoke();

    /// <summary>
    /// Whether the SQL names this table: quoted (SQLite) or bare (Npgsql leaves lower-case names unquoted), and not as
    /// part of a longer name ("role_sites" is not "sites"). EF writes the names as the model has them (lower case), so
    /// the search is ordinal: vectorized, where an ignore-case search under invariant globalization walks every char
    /// of every request-log batch.
    /// </summary>
    internal static bool ContainsIdentifier(ReadOnlySpan<char> sql, string name)
    {
        var offset = 0;
        while (offset < sql.Length)
        {
            var at = sql[offset..].IndexOf(name, StringComparison.Ordinal);
            if (at < 0)
            {
                return false;
            }
            var start = offset + at;
            var end = start + name.Length;
            if ((start == 0 || !IsIdentifierChar(sql[start - 1])) && (end == sql.Length || !IsIdentifierChar(sql[end])))
            {
                return true;
            }
            offset = start + 1;
        }
        return false;
    }

    private static bool IsIdentifierChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private void Inspect(DbCommand command)
    {
        var text = command.CommandText.AsSpan().TrimStart();
        if (!(text.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || text.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase)))
        {
            return;
        }
        foreach (var table in Tables)
        {
            if (ContainsIdentifier(text, table))
            {
                // A write inside a transaction is only visible to the source's reload after its commit.
                if (command.Transaction is { } transaction)
                {
                    _pending.AddOrUpdate(transaction, transaction);
                }
                else
                {
                    Raise();
                }
                return;
            }
        }
    }
}
