namespace Reactive.Management.Jobs;

/// <summary>What became of a peer's answer.</summary>
public enum JobAnswerOutcome
{
    /// <summary>The answer completed its job.</summary>
    Completed,

    /// <summary>No job has the answer's id (or the id is not 16 bytes).</summary>
    UnknownJob,

    /// <summary>The job belongs to another peer; the answer is ignored.</summary>
    OtherPeersJob,

    /// <summary>The job already finished (answered, timed out or cancelled); a repeated answer is not counted twice.</summary>
    AlreadyFinished,

    /// <summary>The job was never sent, so it cannot be answered yet.</summary>
    NotSent,
}

/// <summary>What became of a cancellation.</summary>
public enum JobCancelOutcome
{
    /// <summary>The job is cancelled now.</summary>
    Cancelled,

    /// <summary>No job has this id.</summary>
    NotFound,

    /// <summary>The job had already finished; nothing changed.</summary>
    AlreadyFinished,
}
