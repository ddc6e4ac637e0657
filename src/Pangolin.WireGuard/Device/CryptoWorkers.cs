using System.Collections.Concurrent;

namespace Pangolin.WireGuard.Device;

/// <summary>
/// Spreads the encryption or decryption of one batch over the cores, fork-join: the thread that owns the batch
/// (an interface or UDP reader, or a peer flushing its staged packets) publishes it in chunks, wakes helpers, works
/// on chunks itself and returns when every chunk is done. The batch keeps its order because nothing leaves it
/// before the join; no packet crosses a queue, and a small batch is done inline without waking anyone.
/// </summary>
internal sealed class CryptoWorkers : IDisposable
{
    /// <summary>A helper is worth waking only for this many packets per chunk (a wake-up costs microseconds).</summary>
    public const int MinChunk = 8;

    private readonly ConcurrentQueue<(CryptoBatch Batch, uint Generation)> _jobs = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread[] _threads;
    private readonly CancellationTokenSource _stopping = new();

    /// <param name="helpers">Threads besides the callers (0: every batch is done by its caller).</param>
    /// <param name="name">Prefix of the threads' names.</param>
    public CryptoWorkers(int helpers, string name)
    {
        _threads = new Thread[Math.Max(0, helpers)];
        for (var i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(Work) { IsBackground = true, Name = $"{name} crypto {i}" };
            _threads[i].Start();
        }
    }

    public int Helpers => _threads.Length;

    /// <summary>Runs <paramref name="batch"/>'s operation on each of its elements and returns when all are done.</summary>
    public void Run(CryptoBatch batch)
    {
        var count = batch.Count;
        if (count == 0)
        {
            return;
        }
        var helpers = Math.Min(_threads.Length, count / MinChunk - 1);
        if (helpers <= 0 || _stopping.IsCancellationRequested)
        {
            batch.RunInline();
            return;
        }
        var chunks = helpers + 1;
        var generation = batch.Publish((count + chunks - 1) / chunks);
        for (var i = 0; i < helpers; i++)
        {
            _jobs.Enqueue((batch, generation));
        }
        _wake.Release(helpers);
        batch.WorkAndJoin(generation);
    }

    private void Work()
    {
        var token = _stopping.Token;
        try
        {
            while (true)
            {
                _wake.Wait(token);
                if (_jobs.TryDequeue(out var job))
                {
                    job.Batch.Help(job.Generation);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        foreach (var thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }
        _stopping.Dispose();
        _wake.Dispose();
    }
}

/// <summary>
/// One caller's batch for <see cref="CryptoWorkers"/>, reused for every run. Chunks are claimed with one 64-bit
/// compare-and-swap on (generation, chunk count, next chunk): a helper that wakes late, for a batch its caller
/// has already finished and reused, finds another generation and claims nothing.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "ManualResetEventSlim holds no kernel object unless its WaitHandle is asked for, and a batch may be in use when its owner goes away.")]
internal sealed class CryptoBatch(int capacity, Action<PacketElement> operation)
{
    private readonly ManualResetEventSlim _done = new(false, spinCount: 200);
    private long _state;
    private int _completed;
    private int _chunkSize;
    private uint _generation;

    public PacketElement[] Items { get; } = new PacketElement[capacity];

    public int Count { get; set; }

    public void RunInline()
    {
        for (var i = 0; i < Count; i++)
        {
            operation(Items[i]);
        }
    }

    /// <summary>Makes the current items claimable in chunks of <paramref name="chunkSize"/>; returns their generation.</summary>
    public uint Publish(int chunkSize)
    {
        _chunkSize = chunkSize;
        _completed = 0;
        _done.Reset();
        var generation = ++_generation;
        var chunks = (Count + chunkSize - 1) / chunkSize;
        // The release write orders every field above before the state that helpers read first.
        Volatile.Write(ref _state, Pack(generation, chunks, 0));
        return generation;
    }

    public void WorkAndJoin(uint generation)
    {
        Help(generation);
        _done.Wait();
    }

    /// <summary>Claims and runs chunks of <paramref name="generation"/> until none is left.</summary>
    public void Help(uint generation)
    {
        while (TryClaim(generation, out var chunk, out var chunks))
        {
            // A successful claim means this generation is not finished, so the caller has not reused the items.
            var start = chunk * _chunkSize;
            var end = Math.Min(Count, start + _chunkSize);
            for (var i = start; i < end; i++)
            {
                operation(Items[i]);
            }
            if (Interlocked.Increment(ref _completed) == chunks)
            {
                _done.Set();
            }
        }
    }

    private bool TryClaim(uint generation, out int chunk, out int chunks)
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            chunk = (int)(state & 0xFFFF);
            chunks = (int)((state >> 16) & 0xFFFF);
            if ((uint)(state >> 32) != generation || chunk >= chunks)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _state, state + 1, state) == state)
            {
                return true;
            }
        }
    }

    private static long Pack(uint generation, int chunks, int next) => ((long)generation << 32) | ((long)chunks << 16) | (uint)next;
}
