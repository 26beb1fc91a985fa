/**
 * Calls whose arguments the audit journal records as a summary instead of in full.
 *
 * A journal copy (`WorkflowsService.Record`) carries the whole workflow — its plan and
 * every step's state, a few hundred KB for a large drain — and a coordinator sends one
 * after every batch of step changes. The receiver keeps the copy in its workflow journal;
 * the audit line says which workflow, in which state and how far, so the audit journal
 * does not grow by the workflow's size on every step (it did: in the lab, two drains of 20
 * VMs and one undrain wrote 66-71 MB of audit lines, 87 KB per copy, on each touched node).
 */

type Summary = (request: Record<string, unknown>) => Record<string, unknown>;

const count = (value: unknown): number => (Array.isArray(value) ? value.length : 0);

const SUMMARIES: Readonly<Record<string, Summary>> = {
  '/hvctl.v1.WorkflowsService/Record': (request) => {
    const workflow = (request['workflow'] ?? {}) as Record<string, unknown>;
    const steps = Array.isArray(workflow['steps']) ? (workflow['steps'] as Array<Record<string, unknown>>) : [];
    return {
      workflow: {
        id: workflow['id'],
        state: workflow['state'],
        coordinator: workflow['coordinator'],
        steps: count(workflow['steps']),
        stepsDone: steps.filter((step) => step['state'] === 'done').length,
      },
    };
  },
};

/** The arguments to journal for `method` in place of the request, or undefined to journal the (redacted) request. */
export function summarizedArguments(method: string, request: unknown): Record<string, unknown> | undefined {
  const summary = SUMMARIES[method];
  return summary && request !== null && typeof request === 'object' ? summary(request as Record<string, unknown>) : undefined;
}
