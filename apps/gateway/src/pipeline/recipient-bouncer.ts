// How the pipeline hands over recipients it refused for good: the delivery side marks them
// bounced and sends the DSN (delivery/dsn.service.ts implements this).
import type { QueuedMessage } from '@lib/db';
import type { Rejection } from './pipeline-context';

export interface RecipientBouncer {
  bounce(message: QueuedMessage, rejections: readonly Rejection[]): Promise<void>;
}
