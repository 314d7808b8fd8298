// @troupe/inspector: the public API. Everything exported is listed by name.
export { actionName, chartOf, chartStates, guardName, isMachine } from './chart.js';
export type {
  Chart,
  ChartState,
  ChartStateType,
  ChartTransition,
  ChartTransitionKind,
} from './chart.js';
export { chartSvg, layoutSvg } from './chart-svg.js';
export { chartFont, layoutChart } from './layout.js';
export type { Box, ChartLayout, EdgeLayout, StateLayout, TextLine } from './layout.js';
export { Inspector, stateString } from './inspector.js';
export type {
  ActorDetail,
  ActorKind,
  ActorStatus,
  ActorSummary,
  ChildView,
  EventQuery,
  InFlightMessage,
  InspectedActor,
  InspectorEvent,
  InspectorOptions,
  InspectorUpdate,
  RestartRecord,
  TakenTransition,
  TreeNode,
} from './inspector.js';
export { toMermaid, transitionLabel } from './mermaid.js';
export { inspectorRoutes } from './routes.js';
export type { InspectorRequestHandler, InspectorRoutesOptions } from './routes.js';
export { formatTree } from './format.js';
