// What the `transform` step asks for each delivery group: bytes to deliver instead of the
// accepted ones (the DIME issue returns a sealed message per destination domain here), or
// undefined to deliver the accepted bytes unchanged. Throwing fails the job (never plaintext
// instead of a failed seal: STYLE.md 3).
import type { DeliveryGroup, PipelineContext } from './pipeline-context';

export interface MessageTransformer {
  transform(ctx: PipelineContext, group: DeliveryGroup): Promise<Uint8Array | undefined>;
}

/** This transformer: every group gets the accepted bytes. */
export const IDENTITY_TRANSFORMER: MessageTransformer = Object.freeze({
  transform: async () => undefined,
});
