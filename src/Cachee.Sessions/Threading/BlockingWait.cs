namespace Cachee.Sessions.Threading;

/// <summary>
/// How a blocking caller waits for a task: it sleeps on the task's wait handle at once. <c>Task.Wait</c> spins first, which
/// on the two cores common for app instances takes a core from the threads that would complete the task.
/// </summary>
internal static class BlockingWait
{
    /// <summary>Blocks until <paramref name="task"/> completes or <paramref name="timeout"/> passes; true when it completed.</summary>
    public static bool Until(Task task, TimeSpan timeout) =>
        task.IsCompleted || ((IAsyncResult)task).AsyncWaitHandle.WaitOne(timeout);
}
