using System.Threading.Channels;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Email;

/// <summary>One e-mail: a plain-text body and, optionally, the same in HTML.</summary>
public sealed record EmailMessage(string To, string Subject, string Text, string? Html = null);

public interface IEmailSender
{
    bool IsConfigured { get; }

    Task SendAsync(EmailMessage message, CancellationToken cancellationToken);
}

/// <summary>Sends through the configured SMTP server with MailKit; a connection per message keeps failure simple.</summary>
internal sealed partial class SmtpEmailSender(IOptions<EmailOptions> options, ILogger<SmtpEmailSender> logger) : IEmailSender
{
    public bool IsConfigured => options.Value.IsConfigured;

    public async Task SendAsync(EmailMessage message, CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!o.IsConfigured)
        {
            throw new InvalidOperationException("E-mail is not configured (Email:SmtpHost and Email:NoReply).");
        }
        var mime = new MimeMessage();
        mime.From.Add(MailboxAddress.Parse(o.NoReply!));
        mime.To.Add(MailboxAddress.Parse(message.To));
        mime.Subject = message.Subject;
        var body = new BodyBuilder { TextBody = message.Text };
        if (message.Html is not null)
        {
            body.HtmlBody = message.Html;
        }
        mime.Body = body.ToMessageBody();

        using var client = new SmtpClient();
        var security = o.SmtpSecurity switch
        {
            "tls" => SecureSocketOptions.SslOnConnect,
            "starttls" => SecureSocketOptions.StartTls,
            "none" => SecureSocketOptions.None,
            _ => SecureSocketOptions.StartTlsWhenAvailable,
        };
        await client.ConnectAsync(o.SmtpHost!, o.SmtpPort, security, cancellationToken);
        if (!string.IsNullOrEmpty(o.SmtpUser))
        {
            await client.AuthenticateAsync(o.SmtpUser, o.SmtpPassword ?? "", cancellationToken);
        }
        await client.SendAsync(mime, cancellationToken);
        await client.DisconnectAsync(quit: true, cancellationToken);
        LogSent(logger, message.Subject);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sent e-mail '{Subject}'")]
    private static partial void LogSent(ILogger logger, string subject);
}

/// <summary>
/// Sends account e-mails after the request is answered, so that the answer does not depend on the mail server: a
/// reset request looks the same (status and time) whether or not the account exists, and a change already saved is
/// not reported as failed because its notice could not be sent. Failures are logged; mail still queued at shutdown
/// is dropped.
/// </summary>
public sealed partial class EmailOutbox(IEmailSender sender, ILogger<EmailOutbox> logger) : BackgroundService
{
    private readonly Channel<EmailMessage> _queue = Channel.CreateBounded<EmailMessage>(
        new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    private int _pending;

    public bool IsConfigured => sender.IsConfigured;

    /// <summary>E-mails queued and not yet handed to the SMTP server (or given up on).</summary>
    public int Pending => Volatile.Read(ref _pending);

    public void Enqueue(EmailMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Interlocked.Increment(ref _pending);
        if (!_queue.Writer.TryWrite(message))
        {
            Interlocked.Decrement(ref _pending);
            LogDropped(logger, message.Subject);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var message in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await sender.SendAsync(message, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, message.Subject, e);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not send e-mail '{Subject}'")]
    private static partial void LogFailed(ILogger logger, string subject, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped e-mail '{Subject}': too many e-mails are waiting to be sent")]
    private static partial void LogDropped(ILogger logger, string subject);
}
