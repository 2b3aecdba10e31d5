// Placeholder: the voice engineer (issue 4) replaces this module. It listens to 'hall:event'.
