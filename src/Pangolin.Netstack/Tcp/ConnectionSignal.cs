using System.Threading.Tasks.Sources;

namespace Pangolin.Netstack.Tcp;

/// <summary>
/// A reusable wake-up for the one reader (or the one writer) of a connection, so that waiting for data or room
/// allocates nothing: a ValueTask over <see cref="ManualResetValueTaskSourceCore{TResult}"/>, completed by
/// <see cref="Set"/> or by the wait's cancellation token. The waiter checks its condition under the connection's
/// lock before it waits and again after, so a Set with nobody waiting is simply dropped.
/// The waiter's continuation runs on the thread pool — never inline in <see cref="Set"/>, which the stack calls
/// under the connection's lock on its receive path — queued as this object itself, so that a wake-up allocates
/// nothing either (a queued delegate would).
/// </summary>
internal sealed class ConnectionSignal : IValueTaskSource, IThreadPoolWorkItem
{
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Completed = 2;

    private readonly string _operation;
    private ManualResetValueTaskSourceCore<bool> _core; // continuations inline: Execute already runs on the pool
    private int _state;
    private CancellationToken _token;
    private CancellationTokenRegistration _registration;
    private Exception? _pendingError;

    public ConnectionSignal(string operation) => _operation = operation;

    /// <summary>Starts a wait. Only one at a time: a second concurrent read (or write) is a caller error, as on a socket.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken); // at once, as a socket does
        }
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) != Idle)
        {
            throw new InvalidOperationException($"Another {_operation} is already pending on this connection.");
        }
        _core.Reset();
        var version = _core.Version;
        _token = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(
                static (state, token) =>
                {
                    var signal = (ConnectionSignal)state!;
                    if (signal._token == token)
                    {
                        signal.Complete(new OperationCanceledException(token));
                    }
                },
                this);
        }
        return new ValueTask(this, version);
    }

    /// <summary>Wakes the waiter, if there is one.</summary>
    public void Set() => Complete(null);

    private void Complete(Exception? error)
    {
        if (Interlocked.CompareExchange(ref _state, Completed, Waiting) != Waiting)
        {
            return;
        }
        _pendingError = error;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        var error = _pendingError;
        _pendingError = null;
        if (error is null)
        {
            _core.SetResult(true);
        }
        else
        {
            _core.SetException(error);
        }
    }

    void IValueTaskSource.GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _registration.Dispose();
            _registration = default;
            _token = default;
            Volatile.Write(ref _state, Idle);
        }
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
