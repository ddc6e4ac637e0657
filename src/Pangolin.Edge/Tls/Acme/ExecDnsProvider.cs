using System.Diagnostics;
using System.Text;

namespace Pangolin.Edge.Tls.Acme;

/// <summary>
/// Sets dns-01 TXT records through a program the operator provides, called as lego's exec provider calls it:
/// <c>hook present &lt;fqdn&gt; &lt;value&gt;</c> and <c>hook cleanup &lt;fqdn&gt; &lt;value&gt;</c>, the name fully qualified
/// with its trailing dot. The program returns once the record is published (exit 0) and fails otherwise; so any DNS
/// provider with a CLI or an API can be used, and scripts written for lego work unchanged.
/// </summary>
public sealed class ExecDnsProvider : IDnsProvider
{
    // What the hook may print is kept for the error message only, and bounded.
    private const int MaxOutput = 2000;

    private readonly string _program;
    private readonly TimeSpan _timeout;

    public ExecDnsProvider(string program, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(program);
        if (timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "Must be positive.");
        }
        _program = program;
        _timeout = timeout;
    }

    public Task SetTxtAsync(string name, string value, CancellationToken cancellationToken) => RunAsync("present", name, value, cancellationToken);

    public Task RemoveTxtAsync(string name, string value, CancellationToken cancellationToken) => RunAsync("cleanup", name, value, cancellationToken);

    private async Task RunAsync(string action, string name, string value, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(value);
        var start = new ProcessStartInfo(_program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(action);
        start.ArgumentList.Add(name.EndsWith('.') ? name : name + ".");
        start.ArgumentList.Add(value);
        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        void Append(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (output)
            {
                if (output.Length < MaxOutput)
                {
                    output.AppendLine(line);
                }
            }
        }
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new AcmeException($"The DNS hook {_program} could not be started: {e.Message}", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new AcmeException($"The DNS hook {_program} {action} {name} did not finish within {_timeout}.");
        }
        if (process.ExitCode != 0)
        {
            string text;
            lock (output)
            {
                text = output.ToString().Trim();
            }
            throw new AcmeException($"The DNS hook {_program} {action} {name} exited with {process.ExitCode}{(text.Length > 0 ? ": " + text : "")}");
        }
    }
}
