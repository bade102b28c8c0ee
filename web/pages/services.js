// Services (inference replicas behind Weft's load balancer) are not in Weft yet.
import { h } from '../util.js';

export function mount(root) {
  root.append(
    h('h1', {}, 'Services'),
    h('div', { class: 'card placeholder' },
      h('p', {}, 'Inference services are not available yet.'),
      h('p', { class: 'muted' },
        'When they are, this page will list each service with its replicas, readiness, ',
        'load-balancer traffic and autoscaling (`weft serve up svc.yaml`).')));
  return { title: 'Services', refresh: async () => {} };
}
