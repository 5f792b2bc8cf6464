using Xunit;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// Tests that watch the whole process (its managed heap, its unobserved task exceptions) run in this collection, after
/// the parallel ones and one at a time.
/// </summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;
