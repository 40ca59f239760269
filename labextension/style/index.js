import './widgets.css';
import './base.css';
