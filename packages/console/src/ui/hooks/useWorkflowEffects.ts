import type { Topology } from '@hvctl/common';
import { useEffect, useLayoutEffect, useRef } from 'react';
import type { WorkflowAction, WorkflowUi } from '../../state/workflow.js';
import { abortWorkflow, planWorkflow, submitWorkflow, watchWorkflow, type RunnerDeps } from '../../workflows/runner.js';

/**
 * Carries out what the workflow state asks for: a plan screen that is `loading` gets its
 * plan, one that is `submitting` is submitted, every execution marked `watching` is
 * followed, an abort that is `sending` is sent. Each answer comes back as a reducer
 * action; each effect starts once (tracked by key or id). Unmounting stops every watch
 * stream; the workflows themselves go on in their coordinators.
 */
export function useWorkflowEffects(ui: WorkflowUi, dispatch: (action: WorkflowAction) => void, deps: RunnerDeps, topology: Topology): void {
  const latest = useRef({ dispatch, deps, topology });
  useLayoutEffect(() => {
    latest.current = { dispatch, deps, topology };
  });
  const started = useRef(new Set<string>());
  const watchers = useRef(new Map<string, () => void>());
  const alive = useRef(true);

  useEffect(() => {
    alive.current = true;
    const running = watchers.current;
    return () => {
      alive.current = false;
      for (const stop of running.values()) stop();
      running.clear();
    };
  }, []);

  useEffect(() => {
    const send = (action: WorkflowAction): void => {
      if (alive.current) latest.current.dispatch(action);
    };
    const once = (key: string): boolean => {
      if (started.current.has(key)) return false;
      started.current.add(key);
      return true;
    };
    const { deps: runner, topology: live } = latest.current;
    const plan = ui.plan;
    if (plan?.status === 'loading' && once(`plan:${plan.key}`)) {
      void planWorkflow(runner, live, plan.request.spec).then((result) =>
        send(
          result.ok
            ? { type: 'workflow.planned', key: plan.key, coordinator: result.coordinator, plan: result.plan }
            : { type: 'workflow.problem', key: plan.key, problem: result.problem, ...(result.coordinator ? { coordinator: result.coordinator } : {}) },
        ),
      );
    }
    if (plan?.status === 'submitting' && plan.coordinator && once(`submit:${plan.key}`)) {
      const coordinator = plan.coordinator;
      void submitWorkflow(runner, coordinator, plan.request.spec).then((result) =>
        send(result.ok ? { type: 'workflow.submitted', key: plan.key, coordinator, workflow: result.workflow } : { type: 'workflow.problem', key: plan.key, problem: result.problem }),
      );
    }
    for (const execution of ui.executions) {
      const { id, coordinator } = execution;
      if (execution.watching && !watchers.current.has(id)) {
        let ended = false;
        const stop = watchWorkflow(runner, coordinator, id, {
          onUpdate: (workflow) => send({ type: 'workflow.update', id, workflow }),
          onLost: (reason) => send({ type: 'workflow.lost', id, reason }),
          onEnd: (workflow) => {
            ended = true;
            watchers.current.delete(id);
            send({ type: 'workflow.followEnded', id, workflow });
          },
        });
        // watchWorkflow ends at once when there is no client: keep only a live watcher.
        if (!ended) watchers.current.set(id, stop);
      }
      const abortKey = `abort:${id}`;
      if (execution.abort.status === 'sending' && once(abortKey)) {
        void abortWorkflow(runner, coordinator, id).then((error) => {
          started.current.delete(abortKey);
          send({ type: 'workflow.abortDone', id, ...(error ? { error } : {}) });
        });
      }
    }
  }, [ui]);
}
