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
/// A multi-row INSERT into the request log for whichever provider the context runs on: table, column names, quoting,
/// parameter names and parameter types (with the model's value converters) all come from the EF model, so that the
/// bulk path writes exactly what <c>SaveChanges</c> would.
/// </summary>
internal sealed class RequestLogInsert
{
    /// <summary>Rows per statement: about 20 columns × 50 rows stays far below SQLite's and PostgreSQL's parameter limits.</summary>
    public const int RowsPerStatement = 50;

    private readonly string _prefix;
    private readonly string[] _rowSql = new string[RowsPerStatement + 1];
    private readonly Column[] _columns;
    private readonly ISqlGenerationHelper _sql;

    private sealed record Column(IProperty Property, RelationalTypeMapping Mapping, Func<RequestAuditLog, object?> Read);

    private RequestLogInsert(string prefix, Column[] columns, ISqlGenerationHelper sql)
    {
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
        return new RequestLogInsert(prefix, columns, sql);
    }

    public DbCommand Command(DbConnection connection, DbTransaction transaction, List<AccessDecision> batch, int start, int rows)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _rowSql[rows] ??= Sql(rows);
        for (var row = 0; row < rows; row++)
        {
            var entry = ToRow(batch[start + row]);
            for (var c = 0; c < _columns.Length; c++)
            {
                var column = _columns[c];
                command.Parameters.Add(column.Mapping.CreateParameter(
                    command, _sql.GenerateParameterName(Name(row, c)), column.Read(entry), column.Property.IsNullable));
            }
        }
        return command;
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
