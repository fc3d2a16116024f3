// libs/jobs public API: queue names, the typed job union and the Redis connection settings.
export { jobIdOf, QUEUES, type DeliverJob, type EscrowExportJob, type JobItem, type JobOf, type ProcessJob, type QueueName, type RetentionSweepJob } from './jobs';
export { jobsConfigFromEnv, type JobsConfig } from './jobs.config';
