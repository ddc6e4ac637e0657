using System.Threading.Tasks.Sources;

namespace Pangolin.Netstack.Tcp;

/// <summary>
/// The completion of the one pending read (or the one pending write) of a connection, reused so that an operation
/// that has to wait allocates nothing: a ValueTask over <see cref="ManualResetValueTaskSourceCore{TResult}"/>,
/// completed by the connection under its lock (<see cref="Set"/>, <see cref="Fail"/>) or by the wait's cancellation
/// token. The owner does the operation's work itself as segments arrive (copies data out, appends data in), so the
/// waiter only learns the result.
/// The waiter's continuation runs on the thread pool — never inline in <see cref="Set"/>, which the stack calls
/// under the connection's lock on its receive path — queued as this object itself, so that a wake-up allocates
/// nothing either (a queued delegate would).
/// </summary>
internal sealed class ConnectionSignal : IValueTaskSource, IValueTaskSource<int>, IThreadPoolWorkItem
{
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Completed = 2;

    private readonly string _operation;
    private readonly Action<ConnectionSignal, CancellationToken> _onCancel;
    private ManualResetValueTaskSourceCore<int> _core; // continuations inline: Execute already runs on the pool
    private int _state;
    private CancellationToken _token;
    private CancellationTokenRegistration _registration;
    private Exception? _pendingError;
    private int _pendingResult;

    /// <param name="operation">Named in the error for a second concurrent wait.</param>
    /// <param name="onCancel">
    /// Runs when the wait's token is cancelled: the owner takes its lock, forgets the operation (so that it stops
    /// touching the caller's buffer before the caller hears of the cancellation) and calls <see cref="Cancel"/>.
    /// </param>
    public ConnectionSignal(string operation, Action<ConnectionSignal, CancellationToken> onCancel)
    {
        _operation = operation;
        _onCancel = onCancel;
    }

    /// <summary>True between a wait's start and its completion.</summary>
    public bool IsWaiting => Volatile.Read(ref _state) == Waiting;

    /// <summary>Starts a wait. Only one at a time: a second concurrent read (or write) is a caller error, as on a socket.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken) => new(this, Start(cancellationToken));

    /// <summary>As <see cref="WaitAsync"/>, for an operation whose result is a count.</summary>
    public ValueTask<int> WaitForCountAsync(CancellationToken cancellationToken) => new(this, Start(cancellationToken));

    private short Start(CancellationToken cancellationToken)
    {
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
                    signal._onCancel(signal, token);
                },
                this);
        }
        return version;
    }

    /// <summary>Ends the wait with <paramref name="result"/>, if there is one going.</summary>
    public void Set(int result = 0) => Complete(null, result);

    /// <summary>Ends the wait with <paramref name="error"/>, if there is one going.</summary>
    public void Fail(Exception error) => Complete(error, 0);

    /// <summary>Cancels the wait that <paramref name="token"/> belongs to, if that one is still going.</summary>
    public void Cancel(CancellationToken token)
    {
        if (_token == token)
        {
            Complete(new OperationCanceledException(token), 0);
        }
    }

    private void Complete(Exception? error, int result)
    {
        if (Interlocked.CompareExchange(ref _state, Completed, Waiting) != Waiting)
        {
            return;
        }
        _pendingError = error;
        _pendingResult = result;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        var error = _pendingError;
        _pendingError = null;
        if (error is null)
        {
            _core.SetResult(_pendingResult);
        }
        else
        {
            _core.SetException(error);
        }
    }

    int IValueTaskSource<int>.GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _registration.Dispose();
            _registration = default;
            _token = default;
            Volatile.Write(ref _state, Idle);
        }
    }

    void IValueTaskSource.GetResult(short token) => ((IValueTaskSource<int>)this).GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
