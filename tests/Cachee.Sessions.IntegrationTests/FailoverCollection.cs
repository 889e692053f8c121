namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The failover tests (Sentinel and Cluster topologies of their own, nodes killed under traffic): they run one at a time and
/// alone, after the other tests, so that neither their timings (elections, resume times) nor those of the other tests depend
/// on what else the two cores are doing.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FailoverCollection
{
    public const string Name = "failovers";
}
