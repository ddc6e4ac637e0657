using System.Data.Common;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Edge.Badger;

namespace Pangolin.Server.Edge;

/// <summary>
/// Bulk INSERTs into the request log for whichever provider the context runs on: table, column names, quoting,
/// parameter names and parameter types (with the model's value converters) all come from the EF model, so that the
/// bulk path writes exactly what <c>SaveChanges</c> would.
/// </summary>
internal sealed class RequestLogInsert
{
    /// <summary>
    /// Rows per statement. PostgreSQL: 50 (about 20 columns each, far below its parameter limit) to save round trips.
    /// SQLite: one row, its statement prepared once and bound again per row, because Microsoft.Data.Sqlite binds by
    /// name and SQLite finds each name by a linear search: a 50-row statement cost more in strncmp than in inserting.
    /// </summary>
    private readonly int _rowsPerStatement;
    private readonly string _prefix;
    private readonly string?[] _rowSql;
    private readonly Column[] _columns;
    private readonly ISqlGenerationHelper _sql;

    private sealed record Column(IProperty Property, RelationalTypeMapping Mapping, Func<RequestAuditLog, object?> Read);

    private RequestLogInsert(int rowsPerStatement, string prefix, Column[] columns, ISqlGenerationHelper sql)
    {
        _rowsPerStatement = rowsPerStatement;
        _rowSql = new string?[rowsPerStatement + 1];
        _prefix = prefix;
        _columns = columns;
        _sql = sql;
    }

    public static RequestLogInsert From(PangolinDbContext db)
    {
        var entity = db.Model.FindEntityType(typeof(RequestAuditLog))
            ?? throw new InvalidOperationException("The model has no request log.");
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        var sql = db.GetService<ISqlGenerationHelper>();
        var columns = entity.GetProperties()
            .Where(p => p.ValueGenerated == ValueGenerated.Never)
            .Select(p =>
            {
                var getter = p.GetGetter();
                return new Column(p, (RelationalTypeMapping)p.GetRelationalTypeMapping(), e => getter.GetClrValue(e));
            })
            .ToArray();
        var prefix = new StringBuilder("INSERT INTO ")
            .Append(sql.DelimitIdentifier(table.Name, table.Schema))
            .Append(" (")
            .AppendJoin(", ", columns.Select(c => sql.DelimitIdentifier(c.Property.GetColumnName(table)!)))
            .Append(") VALUES ")
            .ToString();
        var sqlite = db.Database.ProviderName?.Contains("Sqlite", StringComparison.Ordinal) == true;
        return new RequestLogInsert(sqlite ? 1 : 50, prefix, columns, sql);
    }

    /// <summary>Inserts the batch inside the caller's transaction.</summary>
    public async Task WriteAsync(DbConnection connection, DbTransaction transaction, List<AccessDecision> batch, CancellationToken ct)
    {
        DbCommand? command = null;
        var commandRows = 0;
        try
        {
            for (var start = 0; start < batch.Count; start += _rowsPerStatement)
            {
                var rows = Math.Min(_rowsPerStatement, batch.Count - start);
                if (command is null || commandRows != rows)
                {
                    if (command is not null)
                    {
                        await command.DisposeAsync();
                    }
                    command = Command(connection, transaction, rows);
                    commandRows = rows;
                }
                Bind(command, batch, start, rows);
                await command.ExecuteNonQueryAsync(ct);
            }
        }
        finally
        {
            if (command is not null)
            {
                await command.DisposeAsync();
            }
        }
    }

    private DbCommand Command(DbConnection connection, DbTransaction transaction, int rows)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _rowSql[rows] ??= Sql(rows);
        for (var row = 0; row < rows; row++)
        {
            for (var c = 0; c < _columns.Length; c++)
            {
                command.Parameters.Add(_columns[c].Mapping.CreateParameter(
                    command, _sql.GenerateParameterName(Name(row, c)), null, _columns[c].Property.IsNullable));
            }
        }
        return command;
    }

    private void Bind(DbCommand command, List<AccessDecision> batch, int start, int rows)
    {
        for (var row = 0; row < rows; row++)
        {
            var entry = ToRow(batch[start + row]);
            for (var c = 0; c < _columns.Length; c++)
            {
                var column = _columns[c];
                var value = column.Read(entry);
                if (value is not null && column.Mapping.Converter is { } converter)
                {
                    value = converter.ConvertToProvider(value);
                }
                command.Parameters[(row * _columns.Length) + c].Value = value ?? DBNull.Value;
            }
        }
    }

    private string Sql(int rows)
    {
        var text = new StringBuilder(_prefix);
        for (var row = 0; row < rows; row++)
        {
            text.Append(row == 0 ? "(" : ", (");
            for (var c = 0; c < _columns.Length; c++)
            {
                text.Append(c == 0 ? "" : ", ").Append(_sql.GenerateParameterNamePlaceholder(Name(row, c)));
            }
            text.Append(')');
        }
        return text.ToString();
    }

    private static string Name(int row, int column) => FormattableString.Invariant($"p{row}_{column}");

    private static RequestAuditLog ToRow(AccessDecision d) => new()
    {
        Timestamp = d.Timestamp.UtcDateTime,
        OrgId = d.OrgId,
        ResourceId = d.ResourceId,
        Action = d.Allowed,
        Reason = (int)d.Reason,
        ActorType = d.ActorType,
        Actor = d.Actor,
        ActorId = d.ActorId,
        Ip = d.Ip,
        Location = d.Country,
        UserAgent = d.UserAgent,
        Query = d.Query,
        Scheme = d.Scheme,
        Host = d.Host,
        Path = d.Path.Length > 2048 ? d.Path[..2048] : d.Path,
        Method = d.Method,
        Tls = d.Scheme == "https",
    };
}
