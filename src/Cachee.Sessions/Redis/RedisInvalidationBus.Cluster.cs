using Cachee.Sessions.Invalidation;
using StackExchange.Redis;

namespace Cachee.Sessions.Redis;

// On a Redis Cluster: liveness per node, proven by a probe through the node's inbox.
internal sealed partial class RedisInvalidationBus
{
    // Proves the node in the background (once at a time), through the given slot, or a slot the node serves.
    private void StartProving(System.Net.EndPoint node, int? slot = null)
    {
        if (_provingNodes.TryAdd(node, 0))
        {
            _ = ProveUntilLiveAsync(node, slot);
        }
    }

    // Proves the node, trying again shortly until it is proven, the bus is disposed, or a bounded number of attempts failed
    // (a node that is not a master, or not reachable: it is tried again when it is back, or when a key it serves is wanted).
    private async Task ProveUntilLiveAsync(System.Net.EndPoint node, int? slot)
    {
        try
        {
            for (var attempt = 0; attempt < MaxProveAttempts && !_disposed.IsCancellationRequested && !topology.IsProven(node); attempt++)
            {
                try
                {
                    await ProveNodeAsync(node, slot).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is TimeoutException or RedisException)
                {
                    await Task.Delay(ReprobeBackoff, _disposed.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
        finally
        {
            _ = _provingNodes.TryRemove(node, out _);
        }
    }

    // Listens on this instance's inbox in a slot the node serves (which also gives tracking a subscriber connection of ours to
    // report to there), arms tracking on the node's interactive connection, and waits for a probe to come back through that
    // inbox. Reads begun before are then not installed (they may have gone untracked), and the node's keys may be held.
    private async Task ProveNodeAsync(System.Net.EndPoint node, int? slotServed = null)
    {
        var multiplexer = topology.Multiplexer!;
        var losses = Interlocked.Read(ref _nodeLosses);
        var server = multiplexer.GetServer(node);
        var slot = slotServed ?? topology.FirstSlotOf(node);
        await inboxes.EnsureSlotAsync(slot).ConfigureAwait(false);
        if (!inboxes.IsSubscribedOn(slot, node))
        {
            // The inbox of that slot is still subscribed where the slot was before (a failover, a slot moved).
            await inboxes.ResubscribeSlotAsync(slot, force: true).ConfigureAwait(false);
        }

        try
        {
            _ = await ArmTrackingOnAsync((command, args) => server.ExecuteAsync(command, args), $" on {node}").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisServerException or RedisCommandException)
        {
            ReportTrackingUnavailable(ex.Message);
        }

        var probe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var token = Guid.NewGuid().ToString("N");
        _nodeProbes[token] = probe;
        try
        {
            _ = await multiplexer.GetSubscriber().PublishAsync(inboxes.InboxOf(origin, slot), InvalidationMessage.FormatProbe(origin, token)).ConfigureAwait(false);
            await probe.Task.WaitAsync(probeTimeout, _disposed.Token).ConfigureAwait(false);
        }
        finally
        {
            _ = _nodeProbes.TryRemove(token, out _);
        }

        // A connection lost while the probe was under way makes it worthless (that node may be this one).
        if (Interlocked.Read(ref _nodeLosses) != losses)
        {
            throw new RedisException("A connection was lost while the node was being proven.");
        }

        topology.MarkProven(node);
        _listener?.OnShardProven();
    }
}
