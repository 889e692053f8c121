namespace Cachee.Sessions.TestSupport;

/// <summary>Lets requests through in pairs: each waits (at most 10 s) until a second one arrives.</summary>
internal sealed class PairBarrier
{
    private readonly Lock _gate = new();
    private TaskCompletionSource? _waiting;

    public Task ArriveAsync()
    {
        lock (_gate)
        {
            if (_waiting is { } first)
            {
                _waiting = null;
                first.SetResult();
                return Task.CompletedTask;
            }

            _waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _waiting.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
